// libpng 1.6 through its simplified read API (png_image).
#include <png.h>
