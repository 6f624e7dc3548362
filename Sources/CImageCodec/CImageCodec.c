// JPEG and PNG coding for the Datasets module. libjpeg's error_exit longjmps back into the call
// that started the work, so a corrupt file becomes an error message instead of a process exit.
// Warnings (for example "premature end of JPEG file") are treated as failures too.

#include "CImageCodec.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

struct recovering_error_manager {
    struct jpeg_error_mgr standard;
    jmp_buf recovery;
    char message[JMSG_LENGTH_MAX];
    int warned;
};

static void recover_from_error(j_common_ptr info) {
    struct recovering_error_manager *manager = (struct recovering_error_manager *)info->err;
    (*info->err->format_message)(info, manager->message);
    longjmp(manager->recovery, 1);
}

static void remember_warning(j_common_ptr info, int level) {
    struct recovering_error_manager *manager = (struct recovering_error_manager *)info->err;
    // level -1 is a warning about the data; positive levels are trace messages.
    if (level < 0 && !manager->warned) {
        manager->warned = 1;
        (*info->err->format_message)(info, manager->message);
    }
}

static void set_error(char error[CIMAGE_ERROR_LENGTH], const char *prefix, const char *message) {
    snprintf(error, CIMAGE_ERROR_LENGTH, "%s%s", prefix, message);
}

int cimage_decode_jpeg(const unsigned char *data, size_t length, unsigned char **pixels, int *width,
                       int *height, char error[CIMAGE_ERROR_LENGTH]) {
    struct jpeg_decompress_struct info;
    struct recovering_error_manager manager;
    // volatile: read after a longjmp back into this frame.
    unsigned char *volatile buffer = NULL;
    *pixels = NULL;
    memset(&manager, 0, sizeof manager);
    info.err = jpeg_std_error(&manager.standard);
    manager.standard.error_exit = recover_from_error;
    manager.standard.emit_message = remember_warning;
    if (setjmp(manager.recovery)) {
        jpeg_destroy_decompress(&info);
        free(buffer);
        set_error(error, "JPEG: ", manager.message);
        return 1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)length);
    jpeg_read_header(&info, TRUE);
    int cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
    info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&info);
    int components = info.output_components;
    size_t stride = (size_t)info.output_width * (size_t)components;
    buffer = malloc(stride * info.output_height + 1);
    if (buffer == NULL) {
        jpeg_destroy_decompress(&info);
        set_error(error, "JPEG: ", "out of memory");
        return 1;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = buffer + stride * info.output_scanline;
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    if (manager.warned) {
        jpeg_destroy_decompress(&info);
        free(buffer);
        set_error(error, "JPEG: ", manager.message);
        return 1;
    }
    size_t count = (size_t)info.output_width * info.output_height;
    if (cmyk) {
        // Adobe writes inverted CMYK; multiplying the inverted inks gives RGB directly. In place:
        // pixel i reads bytes 4i..4i+3 and writes 3i..3i+2, never ahead of what it reads.
        for (size_t i = 0; i < count; i++) {
            unsigned k = buffer[4 * i + 3];
            buffer[3 * i + 0] = (unsigned char)((buffer[4 * i + 0] * k + 127) / 255);
            buffer[3 * i + 1] = (unsigned char)((buffer[4 * i + 1] * k + 127) / 255);
            buffer[3 * i + 2] = (unsigned char)((buffer[4 * i + 2] * k + 127) / 255);
        }
    }
    *width = (int)info.output_width;
    *height = (int)info.output_height;
    *pixels = buffer;
    jpeg_destroy_decompress(&info);
    return 0;
}

int cimage_decode_png(const unsigned char *data, size_t length, unsigned char **pixels, int *width,
                      int *height, char error[CIMAGE_ERROR_LENGTH]) {
    png_image image;
    *pixels = NULL;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, length)) {
        set_error(error, "PNG: ", image.message);
        png_image_free(&image);
        return 1;
    }
    image.format = PNG_FORMAT_RGB;
    size_t bytes = PNG_IMAGE_SIZE(image);
    unsigned char *buffer = malloc(bytes + 1);
    if (buffer == NULL) {
        png_image_free(&image);
        set_error(error, "PNG: ", "out of memory");
        return 1;
    }
    png_color white = {255, 255, 255};
    if (!png_image_finish_read(&image, &white, buffer, 0, NULL)) {
        set_error(error, "PNG: ", image.message);
        png_image_free(&image);
        free(buffer);
        return 1;
    }
    *width = (int)image.width;
    *height = (int)image.height;
    *pixels = buffer;
    return 0;
}

int cimage_encode_jpeg(const unsigned char *pixels, int width, int height, int channels, int quality,
                       unsigned char **output, size_t *length, char error[CIMAGE_ERROR_LENGTH]) {
    struct jpeg_compress_struct info;
    struct recovering_error_manager manager;
    unsigned char *memory = NULL;
    unsigned long memory_length = 0;
    *output = NULL;
    *length = 0;
    memset(&manager, 0, sizeof manager);
    info.err = jpeg_std_error(&manager.standard);
    manager.standard.error_exit = recover_from_error;
    if (setjmp(manager.recovery)) {
        jpeg_destroy_compress(&info);
        free(memory);
        set_error(error, "JPEG: ", manager.message);
        return 1;
    }
    jpeg_create_compress(&info);
    jpeg_mem_dest(&info, &memory, &memory_length);
    info.image_width = (JDIMENSION)width;
    info.image_height = (JDIMENSION)height;
    info.input_components = channels;
    info.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, quality, TRUE);
    jpeg_start_compress(&info, TRUE);
    size_t stride = (size_t)width * (size_t)channels;
    while (info.next_scanline < info.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + stride * info.next_scanline);
        jpeg_write_scanlines(&info, &row, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
    *output = memory;
    *length = memory_length;
    return 0;
}

int cimage_encode_png(const void *pixels, int width, int height, int layout, const void *colormap,
                      int colormap_entries, unsigned char **output, size_t *length,
                      char error[CIMAGE_ERROR_LENGTH]) {
    png_image image;
    *output = NULL;
    *length = 0;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    switch (layout) {
    case CIMAGE_PNG_GRAY: image.format = PNG_FORMAT_GRAY; break;
    case CIMAGE_PNG_RGB: image.format = PNG_FORMAT_RGB; break;
    case CIMAGE_PNG_RGBA: image.format = PNG_FORMAT_RGBA; break;
    case CIMAGE_PNG_PALETTE: image.format = PNG_FORMAT_RGB_COLORMAP; break;
    case CIMAGE_PNG_LINEAR_RGB16: image.format = PNG_FORMAT_LINEAR_RGB; break;
    default: set_error(error, "PNG: ", "unknown layout"); return 1;
    }
    image.colormap_entries = (png_uint_32)colormap_entries;
    png_alloc_size_t size = 0;
    if (!png_image_write_get_memory_size(image, size, 0, pixels, 0, colormap)) {
        set_error(error, "PNG: ", image.message);
        return 1;
    }
    unsigned char *memory = malloc(size);
    if (memory == NULL) {
        set_error(error, "PNG: ", "out of memory");
        return 1;
    }
    if (!png_image_write_to_memory(&image, memory, &size, 0, pixels, 0, colormap)) {
        set_error(error, "PNG: ", image.message);
        free(memory);
        return 1;
    }
    *output = memory;
    *length = size;
    return 0;
}
