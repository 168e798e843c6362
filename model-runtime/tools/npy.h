/* npy.h — reading and writing NumPy .npy files (format 1.0, C order,
 * little-endian float32 or int64).
 * SPDX-License-Identifier: MIT */
#ifndef MAGVLT_NPY_H
#define MAGVLT_NPY_H

#include <glib.h>
#include <stdint.h>

#define NPY_MAX_DIMS 8

typedef enum { NPY_F32, NPY_I64 } npy_dtype;

typedef struct {
  npy_dtype dtype;
  int n_dims;
  int64_t shape[NPY_MAX_DIMS];
  int64_t n_elements;
  void *data; /* float or int64_t, owned */
} npy_array;

gboolean npy_write_f32 (const char *path, const float *data, int n_dims, const int64_t *shape,
                        GError **error);
gboolean npy_read (const char *path, npy_array *out, GError **error);
void npy_array_clear (npy_array *a);

#endif
