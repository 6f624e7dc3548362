// libjpeg-turbo through its libjpeg 6.2 API. jpeglib.h needs stdio's FILE and size_t first.
#include <stddef.h>
#include <stdio.h>
#include <jpeglib.h>
