/* ckpt_zip.c — a small ZIP reader for PyTorch checkpoints.
 *
 * Why not a ZIP library: torch.save (≥ 1.6) writes every entry STORED (no
 * compression), its tensor blobs 64-byte aligned, so the converter maps the
 * checkpoint and reads tensors in place instead of extracting multi-GB
 * entries through a decompressor; what that needs is a directory reader,
 * and libzip/minizip offer no way to get at a stored entry's bytes inside a
 * mapping. So this file reads only what torch writes: the end-of-central-
 * directory record (and its ZIP64 forms, which torch writes for files over
 * 4 GiB or entries over 4 GiB), the central directory, and local headers.
 * Compressed or encrypted entries, split archives and data before the first
 * header are refused with a message. CRC-32 comes from zlib.
 *
 * Every count, length and offset is checked against the buffer before use.
 * SPDX-License-Identifier: MIT */
#include "ckpt.h"

#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u

static uint16_t
rd16 (const uint8_t *p)
{
  return (uint16_t) (p[0] | (p[1] << 8));
}

static uint32_t
rd32 (const uint8_t *p)
{
  return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16)
         | ((uint32_t) p[3] << 24);
}

static uint64_t
rd64 (const uint8_t *p)
{
  return (uint64_t) rd32 (p) | ((uint64_t) rd32 (p + 4) << 32);
}

/* off + len lies inside [0, size) without overflow. */
static bool
fits (uint64_t off, uint64_t len, uint64_t size)
{
  return off <= size && len <= size - off;
}

bool
ck_zip_sniff (const uint8_t *buf, uint64_t size)
{
  return size >= 4
         && (rd32 (buf) == SIG_LOCAL || rd32 (buf) == SIG_EOCD || rd32 (buf) == SIG_CENTRAL);
}

void
ck_zip_clear (ck_zip *z)
{
  if (!z)
    return;
  for (uint64_t i = 0; z->entries && i < z->n_entries; i++)
    free (z->entries[i].name);
  free (z->entries);
  free (z->sorted);
  memset (z, 0, sizeof *z);
}

/* The end-of-central-directory record: the last signature in the final
 * 64 KiB + 22 bytes whose comment fits in the file. */
static magvlt_status
find_eocd (const uint8_t *buf, uint64_t size, uint64_t *at)
{
  if (size < 22)
    return mv_fail (MAGVLT_ERR_FORMAT, "not a ZIP archive: %llu bytes is too short",
                    (unsigned long long) size);
  uint64_t lo = size - 22 > 65535 ? size - 22 - 65535 : 0;
  for (uint64_t p = size - 22 + 1; p-- > lo;)
    if (rd32 (buf + p) == SIG_EOCD && rd16 (buf + p + 20) <= size - p - 22)
      {
        *at = p;
        return MAGVLT_OK;
      }
  return mv_fail (MAGVLT_ERR_FORMAT,
                  "ZIP archive without an end-of-central-directory record (the file is "
                  "truncated or not a ZIP archive)");
}

/* The ZIP64 end record through its locator just before the EOCD. */
static magvlt_status
read_eocd64 (const uint8_t *buf, uint64_t size, uint64_t eocd, uint64_t *n_entries,
             uint64_t *cd_size, uint64_t *cd_off)
{
  if (eocd < 20 || rd32 (buf + eocd - 20) != SIG_LOCATOR64)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "the ZIP end record at offset %llu says ZIP64 (0xFFFF/0xFFFFFFFF fields) but "
                    "no ZIP64 locator precedes it",
                    (unsigned long long) eocd);
  const uint8_t *loc = buf + eocd - 20;
  uint64_t off = rd64 (loc + 8);
  if (rd32 (loc + 4) != 0 || rd32 (loc + 16) > 1)
    return mv_fail (MAGVLT_ERR_UNSUPPORTED, "split (multi-disk) ZIP archives are not supported");
  if (!fits (off, 56, eocd - 20) || rd32 (buf + off) != SIG_EOCD64)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "the ZIP64 locator points to offset %llu, where there is no ZIP64 end record",
                    (unsigned long long) off);
  const uint8_t *r = buf + off;
  if (rd32 (r + 16) != 0 || rd32 (r + 20) != 0)
    return mv_fail (MAGVLT_ERR_UNSUPPORTED, "split (multi-disk) ZIP archives are not supported");
  if (rd64 (r + 24) != rd64 (r + 32))
    return mv_fail (MAGVLT_ERR_UNSUPPORTED, "split (multi-disk) ZIP archives are not supported");
  *n_entries = rd64 (r + 32);
  *cd_size = rd64 (r + 40);
  *cd_off = rd64 (r + 48);
  (void) size;
  return MAGVLT_OK;
}

/* Fills the 0xFFFF.. fields of a central entry from its ZIP64 extra field. */
static magvlt_status
read_zip64_extra (const uint8_t *ex, uint32_t ex_len, ck_zip_entry *e, bool need_size,
                  bool need_csize, bool need_off, const char *name)
{
  uint32_t p = 0;
  while (p + 4 <= ex_len)
    {
      uint16_t id = rd16 (ex + p), len = rd16 (ex + p + 2);
      if ((uint32_t) len > ex_len - p - 4)
        break;
      if (id == 0x0001)
        {
          const uint8_t *f = ex + p + 4;
          uint32_t q = 0;
          if (need_size)
            {
              if (q + 8 > len)
                goto short_field;
              e->size = rd64 (f + q), q += 8;
            }
          if (need_csize)
            {
              if (q + 8 > len)
                goto short_field;
              e->comp_size = rd64 (f + q), q += 8;
            }
          if (need_off)
            {
              if (q + 8 > len)
                goto short_field;
              e->local_offset = rd64 (f + q), q += 8;
            }
          return MAGVLT_OK;
        }
      p += 4 + (uint32_t) len;
    }
  if (!need_size && !need_csize && !need_off)
    return MAGVLT_OK;
  return mv_fail (MAGVLT_ERR_FORMAT,
                  "ZIP entry '%s' has 0xFFFFFFFF size or offset fields but no ZIP64 extra field",
                  name);
short_field:
  return mv_fail (MAGVLT_ERR_FORMAT, "ZIP entry '%s': its ZIP64 extra field is too short", name);
}

static int
cmp_entry (const void *a, const void *b)
{
  return strcmp ((*(ck_zip_entry *const *) a)->name, (*(ck_zip_entry *const *) b)->name);
}

magvlt_status
ck_zip_open (const uint8_t *buf, uint64_t size, ck_zip *z)
{
  magvlt_status st;
  uint64_t eocd = 0;

  memset (z, 0, sizeof *z);
  z->buf = buf;
  z->size = size;
  if ((st = find_eocd (buf, size, &eocd)) != MAGVLT_OK)
    return st;
  const uint8_t *r = buf + eocd;
  uint64_t n = rd16 (r + 10), cd_size = rd32 (r + 12), cd_off = rd32 (r + 16);
  if (rd16 (r + 4) != 0 && rd16 (r + 4) != 0xffff)
    return mv_fail (MAGVLT_ERR_UNSUPPORTED, "split (multi-disk) ZIP archives are not supported");
  if (n == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu
      || (eocd >= 20 && rd32 (buf + eocd - 20) == SIG_LOCATOR64))
    {
      if ((st = read_eocd64 (buf, size, eocd, &n, &cd_size, &cd_off)) != MAGVLT_OK)
        return st;
      z->zip64 = true;
    }
  else if (rd16 (r + 8) != n)
    return mv_fail (MAGVLT_ERR_UNSUPPORTED, "split (multi-disk) ZIP archives are not supported");
  if (!fits (cd_off, cd_size, eocd))
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "the ZIP central directory (offset %llu, %llu bytes) lies outside the %llu "
                    "bytes before the end record",
                    (unsigned long long) cd_off, (unsigned long long) cd_size,
                    (unsigned long long) eocd);
  if (n > CK_ZIP_MAX_ENTRIES || n > cd_size / 46)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "the ZIP end record claims %llu entries, more than its %llu-byte central "
                    "directory holds (or over %u)",
                    (unsigned long long) n, (unsigned long long) cd_size, CK_ZIP_MAX_ENTRIES);

  z->entries = calloc (n ? n : 1, sizeof *z->entries);
  z->sorted = calloc (n ? n : 1, sizeof *z->sorted);
  if (!z->entries || !z->sorted)
    {
      ck_zip_clear (z);
      return mv_fail (MAGVLT_ERR_NOMEM, "out of memory for %llu ZIP entries",
                      (unsigned long long) n);
    }
  uint64_t p = cd_off, end = cd_off + cd_size;
  for (uint64_t i = 0; i < n; i++)
    {
      ck_zip_entry *e = &z->entries[i];
      if (!fits (p, 46, end) || rd32 (buf + p) != SIG_CENTRAL)
        {
          ck_zip_clear (z);
          return mv_fail (MAGVLT_ERR_FORMAT,
                          "ZIP central directory entry %llu at offset %llu is missing or "
                          "damaged",
                          (unsigned long long) i, (unsigned long long) p);
        }
      const uint8_t *c = buf + p;
      uint32_t nlen = rd16 (c + 28), elen = rd16 (c + 30), clen = rd16 (c + 32);
      if (!fits (p + 46, (uint64_t) nlen + elen + clen, end) || nlen == 0)
        {
          ck_zip_clear (z);
          return mv_fail (MAGVLT_ERR_FORMAT,
                          "ZIP central directory entry %llu at offset %llu runs past the "
                          "directory (or has an empty name)",
                          (unsigned long long) i, (unsigned long long) p);
        }
      if (memchr (c + 46, 0, nlen))
        {
          ck_zip_clear (z);
          return mv_fail (MAGVLT_ERR_FORMAT, "ZIP entry %llu has a NUL byte in its name",
                          (unsigned long long) i);
        }
      if (!(e->name = malloc (nlen + 1)))
        {
          ck_zip_clear (z);
          return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
        }
      z->n_entries = i + 1; /* so ck_zip_clear frees the name */
      memcpy (e->name, c + 46, nlen);
      e->name[nlen] = '\0';
      e->flags = rd16 (c + 8);
      e->method = rd16 (c + 10);
      e->crc = rd32 (c + 16);
      e->comp_size = rd32 (c + 20);
      e->size = rd32 (c + 24);
      e->local_offset = rd32 (c + 42);
      st = read_zip64_extra (c + 46 + nlen, elen, e, e->size == 0xffffffffu,
                             e->comp_size == 0xffffffffu, e->local_offset == 0xffffffffu, e->name);
      if (st != MAGVLT_OK)
        {
          ck_zip_clear (z);
          return st;
        }
      z->sorted[i] = e;
      p += 46 + (uint64_t) nlen + elen + clen;
    }
  z->n_entries = n;
  qsort (z->sorted, n, sizeof *z->sorted, cmp_entry);
  for (uint64_t i = 1; i < n; i++)
    if (strcmp (z->sorted[i - 1]->name, z->sorted[i]->name) == 0)
      {
        char q[200];
        ck_quote (z->sorted[i]->name, strlen (z->sorted[i]->name), q, sizeof q);
        ck_zip_clear (z);
        return mv_fail (MAGVLT_ERR_FORMAT, "the ZIP archive has two entries named %s", q);
      }
  return MAGVLT_OK;
}

ck_zip_entry *
ck_zip_find (const ck_zip *z, const char *name)
{
  uint64_t lo = 0, hi = z->n_entries;
  while (lo < hi)
    {
      uint64_t mid = lo + (hi - lo) / 2;
      int c = strcmp (z->sorted[mid]->name, name);
      if (c == 0)
        return z->sorted[mid];
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  return NULL;
}

magvlt_status
ck_zip_find_suffix (const ck_zip *z, const char *suffix, ck_zip_entry **out)
{
  size_t ls = strlen (suffix);
  ck_zip_entry *found = NULL;
  *out = NULL;
  for (uint64_t i = 0; i < z->n_entries; i++)
    {
      const char *nm = z->entries[i].name;
      size_t ln = strlen (nm);
      if (ln < ls || strcmp (nm + ln - ls, suffix) != 0 || (ln > ls && nm[ln - ls - 1] != '/'))
        continue;
      if (found)
        return mv_fail (MAGVLT_ERR_FORMAT,
                        "the archive has two entries ending in '%s' ('%s' and '%s'); a PyTorch "
                        "checkpoint has one",
                        suffix, found->name, nm);
      found = &z->entries[i];
    }
  if (!found)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "the ZIP archive has no entry '.../%s', so it is not a PyTorch checkpoint",
                    suffix);
  *out = found;
  return MAGVLT_OK;
}

magvlt_status
ck_zip_entry_data (const ck_zip *z, const ck_zip_entry *e, const uint8_t **data)
{
  char q[200];
  ck_quote (e->name, strlen (e->name), q, sizeof q);
  if (e->flags & 1)
    return mv_fail (MAGVLT_ERR_UNSUPPORTED, "ZIP entry %s is encrypted", q);
  if (e->method != 0)
    return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                    "ZIP entry %s is compressed (method %u%s); PyTorch writes every entry stored, "
                    "so the archive was re-packed: save it again with torch.save, or unpack and "
                    "re-zip it with `zip -0`",
                    q, e->method, e->method == 8 ? ", deflate" : "");
  if (e->comp_size != e->size)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "stored ZIP entry %s has a compressed size (%llu) unlike its size (%llu)", q,
                    (unsigned long long) e->comp_size, (unsigned long long) e->size);
  if (!fits (e->local_offset, 30, z->size) || rd32 (z->buf + e->local_offset) != SIG_LOCAL)
    return mv_fail (MAGVLT_ERR_FORMAT, "ZIP entry %s: no local header at offset %llu", q,
                    (unsigned long long) e->local_offset);
  const uint8_t *l = z->buf + e->local_offset;
  uint64_t nlen = rd16 (l + 26), elen = rd16 (l + 28);
  uint64_t at = e->local_offset + 30 + nlen + elen;
  if (nlen != strlen (e->name) || !fits (e->local_offset + 30, nlen, z->size)
      || memcmp (l + 30, e->name, nlen) != 0)
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "ZIP entry %s: its local header at offset %llu names another entry", q,
                    (unsigned long long) e->local_offset);
  if (!fits (at, e->size, z->size))
    return mv_fail (MAGVLT_ERR_FORMAT,
                    "ZIP entry %s: its %llu bytes at offset %llu run past the end of the file "
                    "(%llu bytes; truncated download?)",
                    q, (unsigned long long) e->size, (unsigned long long) at,
                    (unsigned long long) z->size);
  *data = z->buf + at;
  return MAGVLT_OK;
}

magvlt_status
ck_zip_entry_verify (const ck_zip *z, ck_zip_entry *e, const ck_map *release)
{
  const uint8_t *d;
  magvlt_status st;
  if (e->crc_checked)
    return MAGVLT_OK;
  if ((st = ck_zip_entry_data (z, e, &d)) != MAGVLT_OK)
    return st;
  uLong crc = crc32 (0L, Z_NULL, 0);
  for (uint64_t done = 0; done < e->size;)
    {
      uint64_t chunk = e->size - done > (16u << 20) ? (16u << 20) : e->size - done;
      crc = crc32 (crc, d + done, (uInt) chunk);
      if (release)
        ck_map_release (release, d + done, chunk);
      done += chunk;
    }
  if ((uint32_t) crc != e->crc)
    {
      char q[200];
      ck_quote (e->name, strlen (e->name), q, sizeof q);
      return mv_fail (MAGVLT_ERR_FORMAT,
                      "ZIP entry %s fails its CRC-32 check (stored %08x, computed %08x): the file "
                      "is damaged",
                      q, e->crc, (uint32_t) crc);
    }
  e->crc_checked = true;
  return MAGVLT_OK;
}
