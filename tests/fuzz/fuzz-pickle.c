/* fuzz-pickle.c — libFuzzer target for the restricted pickle VM
 * (model-runtime/src/ckpt_pickle.c): any bytes as data.pkl.
 *
 * Built by tests/fuzz/meson.build with clang (-fsanitize=fuzzer,address,
 * undefined); `meson test fuzz-pickle` runs it for 10 s. By hand:
 *   build/tests/fuzz/fuzz-pickle -max_total_time=600 CORPUS tests/fuzz/seeds-pickle
 * SPDX-License-Identifier: MIT */
#include "ckpt.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  pk_limits lim = { .max_bytes = 64u << 20, .max_marks = 10000 };
  pk_vm *vm = NULL;
  const pv *root = NULL;
  if (pk_load (data, size, &lim, &vm, &root) == MAGVLT_OK)
    {
      char buf[256];
      pk_describe (root, buf, sizeof buf);
      const pv *sd = pk_dict_get (root, "state_dict");
      if (sd)
        pk_describe (sd, buf, sizeof buf);
      pk_free (vm);
    }
  return 0;
}
