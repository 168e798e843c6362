/* image.h — pixel operations around jobs (image.c).
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_IMAGE_H
#define MAGVLT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RGB resize with an antialiased triangle filter (PIL's bilinear). */
bool mv_image_resize (const uint8_t *src, int sw, int sh, size_t sstride, uint8_t *dst, int dw,
                      int dh, size_t dstride);

/* The square [x0, x0 + side) × [y0, y0 + side) of src (edge pixels repeated
 * where it leaves the image) resized to res × res (dst stride res·3). */
bool mv_image_crop_resize (const uint8_t *src, int w, int h, size_t stride, int x0, int y0,
                           int side, uint8_t *dst, int res);

/* The official preprocessing's square: the centred min(w, h) square. */
void mv_center_crop_box (int w, int h, int *x0, int *y0, int *side);

/* Bounding box [bx0, bx1) × [by0, by1) of mask >= 128; false when empty. */
bool mv_mask_bbox (const uint8_t *mask, int w, int h, size_t stride, int *bx0, int *by0, int *bx1,
                   int *by1);

/* The context square around a box: the box plus padding on every side,
 * squared, at least min(res, max(w, h)), slid inside the image where it
 * fits and centred on it where it does not. */
void mv_context_square (int w, int h, int bx0, int by0, int bx1, int by1, int padding, int res,
                        int *x0, int *y0, int *side);

/* tokens[grid·grid]: 1 where any mask pixel of the code's cell is >= 128. */
void mv_mask_to_tokens (const uint8_t *mask, int w, int h, size_t stride, int x0, int y0, int side,
                        int grid, uint8_t *tokens);

/* alpha[w·h]: 0 outside the mask, rising to 1 over `feather` pixels inside
 * it (chamfer distance to the nearest unmasked pixel or the image edge). */
bool mv_feather_alpha (const uint8_t *mask, int w, int h, size_t stride, int feather, float *alpha);

/* Blends src (side × side, placed at x0, y0) into dst through alpha;
 * pixels with alpha 0 are not touched at all. */
void mv_paste (uint8_t *dst, int w, int h, size_t stride, const uint8_t *src, int x0, int y0,
               int side, const float *alpha);

#endif
