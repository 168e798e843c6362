/* image-io.h — image files for the `magvlt` command-line tool, through
 * GdkPixbuf: checked reading with size limits, alpha over white, mask files
 * (design.md, "Mask files") and atomic PNG writing with text chunks.
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_IMAGE_IO_H
#define MAGVLT_IMAGE_IO_H

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib.h>
#include <stdint.h>

/* Images larger than this are refused before they are decoded. */
#define CLI_IMAGE_MAX_SIDE 16384
#define CLI_IMAGE_MAX_PIXELS ((gint64) 1 << 26) /* 64 megapixels */

/* Checks that path names a non-empty regular file of at most max_size bytes
 * (0 = no limit); what names it in messages ("the image"). */
gboolean cli_check_input_file (const char *path, const char *what, goffset max_size,
                               GError **error);

/* Reads an image file GdkPixbuf knows (the first frame of an animation) as
 * 8-bit RGB or RGBA, refusing images over CLI_IMAGE_MAX_SIDE pixels a side
 * or CLI_IMAGE_MAX_PIXELS pixels (from the header when the format tells the
 * size, before decoding). what names the file in messages ("the image"). */
GdkPixbuf *cli_image_read (const char *path, const char *what, GError **error);

/* Copies the w×h window at (left, top) of pb into rgb (h rows of w·3
 * bytes), compositing any alpha over white: a·v + (1 − a)·255, rounded. */
void cli_image_to_rgb (GdkPixbuf *pb, int left, int top, int w, int h, uint8_t *rgb);

/* The mask of a mask file at width × height (design.md "Mask files"): 255
 * where the pixel's grey value — or its alpha when the file has an alpha
 * channel — is >= 128, else 0. Grey is the luma of RGB files
 * (0.299 R + 0.587 G + 0.114 B, rounded), the value itself for grey files.
 * A mask of another size is scaled with nearest neighbour (*scaled set).
 * *n_masked receives the number of masked pixels. Returns g_malloc'd
 * width·height bytes. */
uint8_t *cli_mask_from_pixbuf (GdkPixbuf *pb, int width, int height, gboolean *scaled,
                               gint64 *n_masked);

/* Writes rgb (height rows of stride bytes) as a PNG file atomically: into a
 * temporary file in the same folder, renamed over path when complete, so
 * path never holds a partial image; path "-" writes it to standard output.
 * keys/values (NULL-terminated, may be NULL) become tEXt chunks (iTXt when
 * a value is not Latin-1). */
gboolean cli_png_write_atomic (const char *path, const uint8_t *rgb, int width, int height,
                               size_t stride, char **keys, char **values, GError **error);

#endif
