/* sampling_range.h — the accepted range of each magvlt.sampling.* key the
 * engine reads.
 * SPDX-License-Identifier: MIT */
#ifndef MV_SAMPLING_RANGE_H
#define MV_SAMPLING_RANGE_H

/* NULL when v is a value the engine accepts for the sampling key (named
 * without "magvlt.sampling."; any value for the keys it only records), else
 * the accepted range in words, e.g. "it must be in (0, 100]". */
const char *mv_sampling_range_error (const char *key, double v);

#endif
