/* tokenizer.h — MAGVLT's text tokenizer (spec §5): HuggingFace's
 * CharBPETokenizer as MAGVLT configures it, over a vocabulary and merge list
 * stored in the model file (FORMAT.md, "Text tokenizer").
 * SPDX-License-Identifier: MIT
 *
 * The public entry points (magvlt_tokenize, magvlt_detokenize, ...) are in
 * magvlt.h; this header adds what model.c and the tests need. A tokenizer
 * is immutable after loading: every function here only reads it. */
#ifndef MAGVLT_TOKENIZER_H
#define MAGVLT_TOKENIZER_H

#include "gguf.h"
#include "magvlt.h"

#include <stdint.h>

typedef struct mv_tokenizer mv_tokenizer;

/* Reads and validates the magvlt.tokenizer.* keys of f. A file without
 * magvlt.tokenizer.model (and without any other magvlt.tokenizer.* key)
 * has no tokenizer: *out = NULL and MAGVLT_OK. vocab_size, eot_id and
 * text_len are the model's magvlt.vocab_size_txt, magvlt.text_eot_id and
 * magvlt.ctx_len_txt. Failures return MAGVLT_ERR_FORMAT (or _UNSUPPORTED
 * for an unknown tokenizer model) with a message naming the key and the
 * entry at fault. */
magvlt_status mv_tokenizer_load (const gguf_file *f, int32_t vocab_size, int32_t eot_id,
                                 int32_t text_len, mv_tokenizer **out);

void mv_tokenizer_free (mv_tokenizer *tok);

/* The id of vocabulary entry s[0..len), or -1. */
int32_t mv_tokenizer_lookup (const mv_tokenizer *tok, const char *s, size_t len);

/* The merge of the adjacent symbols (left, right): the merged id, with its
 * rank in *rank; -1 when the pair has no merge. */
int32_t mv_tokenizer_merge (const mv_tokenizer *tok, int32_t left, int32_t right, int32_t *rank);

/* BPE of one word: ids[0..n) are the initial symbol ids (one per code
 * point, the last with the end-of-word suffix); merges them in place and
 * returns the new count. mv_tokenizer_bpe repeatedly applies the leftmost
 * lowest-rank merge with a priority queue, O(n log n) (HuggingFace's
 * Word::merge_all); work must hold mv_tokenizer_bpe_work_size (n) bytes.
 * mv_tokenizer_bpe_naive is the O(n^2) rescanning reference the tests
 * compare it with. */
size_t mv_tokenizer_bpe_work_size (int32_t n);
int32_t mv_tokenizer_bpe (const mv_tokenizer *tok, int32_t *ids, int32_t n, void *work);
int32_t mv_tokenizer_bpe_naive (const mv_tokenizer *tok, int32_t *ids, int32_t n);

#endif
