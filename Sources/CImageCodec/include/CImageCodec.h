// C side of image decoding and encoding: libjpeg reports fatal errors through a callback that must
// not return, which Swift cannot express, so this file holds the setjmp/longjmp recovery. PNG goes
// through libpng's simplified API. Every function returns 0 on success or fills `error` on failure.
#ifndef CIMAGECODEC_H
#define CIMAGECODEC_H

#include <stddef.h>

#define CIMAGE_ERROR_LENGTH 200

/// Pixel layouts for `cimage_encode_png` (kept apart from png.h so Swift need not import libpng).
enum cimage_png_layout {
    CIMAGE_PNG_GRAY = 0,          // 1 byte per pixel
    CIMAGE_PNG_RGB = 1,           // 3 bytes per pixel
    CIMAGE_PNG_RGBA = 2,          // 4 bytes per pixel
    CIMAGE_PNG_PALETTE = 3,       // 1 index byte per pixel, colormap of RGB triples
    CIMAGE_PNG_LINEAR_RGB16 = 4,  // 3 native-endian uint16 per pixel, linear light
};

/// Decodes a JPEG held in memory to 8-bit RGB, `*width * *height * 3` bytes in `*pixels`, allocated
/// with malloc (the caller frees). Any libjpeg error or warning (truncated or corrupt data) fails.
int cimage_decode_jpeg(const unsigned char *data, size_t length, unsigned char **pixels, int *width,
                       int *height, char error[CIMAGE_ERROR_LENGTH]);

/// Decodes a PNG held in memory to 8-bit RGB (grayscale, palette and 16-bit converted, alpha
/// composited on white) in a malloc'd buffer the caller frees.
int cimage_decode_png(const unsigned char *data, size_t length, unsigned char **pixels, int *width,
                      int *height, char error[CIMAGE_ERROR_LENGTH]);

/// Encodes `channels`-channel (1 = gray, 3 = RGB) 8-bit pixels as a baseline JPEG into a malloc'd
/// buffer the caller frees.
int cimage_encode_jpeg(const unsigned char *pixels, int width, int height, int channels, int quality,
                       unsigned char **output, size_t *length, char error[CIMAGE_ERROR_LENGTH]);

/// Encodes pixels as PNG into a malloc'd buffer the caller frees. `colormap` (RGB triples,
/// `colormap_entries` of them) is used by the palette layout.
int cimage_encode_png(const void *pixels, int width, int height, int layout, const void *colormap,
                      int colormap_entries, unsigned char **output, size_t *length,
                      char error[CIMAGE_ERROR_LENGTH]);

#endif
