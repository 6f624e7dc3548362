// OpenBLAS's CBLAS interface plus its thread-count control; found through pkg-config `openblas`.
#include <cblas.h>
