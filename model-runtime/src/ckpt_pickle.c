/* ckpt_pickle.c — a restricted pickle VM for PyTorch checkpoints.
 *
 * Python's pickle format is a program for a stack machine whose GLOBAL and
 * REDUCE opcodes import and call arbitrary functions; that is how a
 * malicious checkpoint runs code. This VM implements the opcodes of
 * protocols 2 to 5 (spec §1.1) as pure data construction: GLOBAL and
 * STACK_GLOBAL only record a (module, name) pair, and REDUCE, NEWOBJ,
 * NEWOBJ_EX and BUILD on such a pair build an opaque record of the call.
 * Nothing is ever imported, looked up or executed, whatever the names say
 * (`os.system`, `builtins.eval`, ...). Exactly four names have meaning:
 *
 *   collections.OrderedDict ()           → an empty ordered dict
 *   BINPERSID ('storage', torch.XStorage, key, location, numel)
 *                                        → a storage record (XStorage: Float,
 *                                          Half, BFloat16, Double, Long, Int,
 *                                          Short, Char, Byte, Bool)
 *   torch._utils._rebuild_tensor_v2 (storage, offset, size, stride, ...)
 *                                        → a strided tensor view
 *   torch._utils._rebuild_parameter (tensor, ...) → the tensor
 *
 * Memory is bounded (every allocation is counted against a limit), as is the
 * nesting of MARKs; lengths and memo indices are checked; the VM never
 * recurses on the input. Protocol-0 text opcodes and out-of-band buffers are
 * refused with a message.
 * SPDX-License-Identifier: MIT */
#include "ckpt.h"

#include "status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK (64u << 10)

typedef struct arena_block {
  struct arena_block *next;
  size_t used, cap;
  max_align_t data[];
} arena_block;

struct pk_vm {
  pk_limits lim;
  size_t used; /* bytes counted against lim.max_bytes */
  arena_block *blocks;

  const uint8_t *buf;
  size_t n, pos, op_at;
  uint8_t op;

  pv **stack;
  size_t sp, stack_cap;
  size_t *marks;
  size_t n_marks, marks_cap;

  uint32_t *memo_keys; /* open addressing; memo_vals[i] NULL = empty slot */
  pv **memo_vals;
  size_t memo_n, memo_cap;

  pv none, yes, no;
};

/* ---- memory -------------------------------------------------------------- */

static magvlt_status
vm_fail_mem (pk_vm *vm)
{
  return mv_fail (MAGVLT_ERR_FORMAT,
                  "pickle offset %zu: reading the pickle needs more than %zu MiB; the "
                  "checkpoint is damaged or not a model",
                  vm->op_at, vm->lim.max_bytes >> 20);
}

static bool
vm_count (pk_vm *vm, size_t bytes)
{
  if (bytes > vm->lim.max_bytes - vm->used)
    return false;
  vm->used += bytes;
  return true;
}

static void *
vm_alloc (pk_vm *vm, size_t bytes)
{
  bytes = (bytes + 15) & ~(size_t) 15;
  arena_block *b = vm->blocks;
  if (!b || b->cap - b->used < bytes)
    {
      size_t cap = bytes > ARENA_BLOCK ? bytes : ARENA_BLOCK;
      if (!vm_count (vm, cap + sizeof *b))
        return NULL;
      b = malloc (sizeof *b + cap);
      if (!b)
        return NULL;
      b->cap = cap;
      b->used = 0;
      b->next = vm->blocks;
      vm->blocks = b;
    }
  void *p = (char *) b->data + b->used;
  b->used += bytes;
  return p;
}

static pv *
new_value (pk_vm *vm, pv_kind kind)
{
  pv *v = vm_alloc (vm, sizeof *v);
  if (v)
    {
      memset (v, 0, sizeof *v);
      v->kind = kind;
    }
  return v;
}

static char *
vm_strdup (pk_vm *vm, const char *s, size_t n)
{
  char *c = vm_alloc (vm, n + 1);
  if (c)
    {
      memcpy (c, s, n);
      c[n] = '\0';
    }
  return c;
}

/* Appends to a pv* array living in the arena (doubling; the old array stays
 * in the arena until the end, so the total is at most twice the final). */
static bool
arr_push (pk_vm *vm, pv ***arr, size_t *n, size_t *cap, pv *x)
{
  if (*n == *cap)
    {
      size_t nc = *cap ? *cap * 2 : 4;
      pv **na = vm_alloc (vm, nc * sizeof *na);
      if (!na)
        return false;
      if (*n)
        memcpy (na, *arr, *n * sizeof *na);
      *arr = na;
      *cap = nc;
    }
  (*arr)[(*n)++] = x;
  return true;
}

void
pk_free (pk_vm *vm)
{
  if (!vm)
    return;
  for (arena_block *b = vm->blocks, *nx; b; b = nx)
    {
      nx = b->next;
      free (b);
    }
  free (vm->stack);
  free (vm->marks);
  free (vm->memo_keys);
  free (vm->memo_vals);
  free (vm);
}

/* ---- messages ------------------------------------------------------------ */

static const char *
op_name (uint8_t op)
{
  switch (op)
    {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    }
  return NULL;
}

static magvlt_status
vm_error (pk_vm *vm, const char *fmt, const char *detail)
{
  char what[300];
  snprintf (what, sizeof what, fmt, detail ? detail : "");
  const char *name = op_name (vm->op);
  return mv_fail (MAGVLT_ERR_FORMAT, "pickle offset %zu (%s): %s", vm->op_at, name ? name : "?",
                  what);
}

void
ck_quote (const char *s, size_t len, char *buf, size_t n)
{
  size_t o = 0;
  if (n < 8)
    {
      if (n)
        buf[0] = '\0';
      return;
    }
  buf[o++] = '\'';
  for (size_t i = 0; i < len; i++)
    {
      unsigned char c = (unsigned char) s[i];
      if (o + 8 >= n)
        {
          memcpy (buf + o, "...", 3);
          o += 3;
          break;
        }
      if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
        buf[o++] = (char) c;
      else
        o += (size_t) snprintf (buf + o, n - o, "\\x%02x", c);
    }
  buf[o++] = '\'';
  buf[o] = '\0';
}

static void
describe (const pv *v, char *buf, size_t n, int depth)
{
  if (n == 0)
    return;
  buf[0] = '\0';
  if (!v)
    {
      snprintf (buf, n, "nothing");
      return;
    }
  switch (v->kind)
    {
    case PV_NONE: snprintf (buf, n, "None"); break;
    case PV_BOOL: snprintf (buf, n, "%s", v->u.b ? "True" : "False"); break;
    case PV_INT: snprintf (buf, n, "%lld", (long long) v->u.i); break;
    case PV_BIGINT: snprintf (buf, n, "an integer wider than 64 bits"); break;
    case PV_FLOAT: snprintf (buf, n, "%g", v->u.f); break;
    case PV_STR: ck_quote (v->u.s.p, v->u.s.n, buf, n < 64 ? n : 64); break;
    case PV_BYTES:
      if (n > 1)
        {
          buf[0] = 'b';
          ck_quote (v->u.s.p, v->u.s.n, buf + 1, n - 1 < 64 ? n - 1 : 64);
        }
      break;
    case PV_TUPLE:
    case PV_LIST:
    case PV_SET:
      snprintf (buf, n, "a %s of %zu",
                v->kind == PV_TUPLE  ? "tuple"
                : v->kind == PV_LIST ? "list"
                                     : "set",
                v->u.seq.n);
      break;
    case PV_DICT: snprintf (buf, n, "a dict of %zu", v->u.dict.n); break;
    case PV_GLOBAL: snprintf (buf, n, "%s.%s", v->u.g.module, v->u.g.name); break;
    case PV_OBJECT:
      {
        char callee[200], arg[120] = "";
        describe (v->u.obj.callable, callee, sizeof callee, depth + 1);
        if (depth < 2 && v->u.obj.args && v->u.obj.args->kind == PV_TUPLE
            && v->u.obj.args->u.seq.n > 0)
          describe (v->u.obj.args->u.seq.v[0], arg, sizeof arg, depth + 1);
        snprintf (buf, n, "%s(%s%s)", callee, arg,
                  v->u.obj.args && v->u.obj.args->kind == PV_TUPLE && v->u.obj.args->u.seq.n > 1
                    ? ", ..."
                    : "");
        break;
      }
    case PV_STORAGE: snprintf (buf, n, "a %s storage", v->u.st.cls ? v->u.st.cls : "?"); break;
    case PV_TENSOR: snprintf (buf, n, "a tensor"); break;
    }
}

void
pk_describe (const pv *v, char *buf, size_t n)
{
  describe (v, buf, n, 0);
}

/* ---- reading the program ------------------------------------------------- */

static magvlt_status
need (pk_vm *vm, uint64_t k)
{
  if (k > vm->n - vm->pos)
    {
      char d[96];
      snprintf (d, sizeof d, "needs %llu more bytes but only %zu remain (truncated pickle)",
                (unsigned long long) k, vm->n - vm->pos);
      return vm_error (vm, "%s", d);
    }
  return MAGVLT_OK;
}

static uint64_t
le (const uint8_t *p, int n)
{
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static magvlt_status
push (pk_vm *vm, pv *v)
{
  if (!v)
    return vm_fail_mem (vm);
  if (vm->sp == vm->stack_cap)
    {
      size_t nc = vm->stack_cap ? vm->stack_cap * 2 : 256;
      if (!vm_count (vm, (nc - vm->stack_cap) * sizeof (pv *)))
        return vm_fail_mem (vm);
      pv **ns = realloc (vm->stack, nc * sizeof *ns);
      if (!ns)
        return mv_fail (MAGVLT_ERR_NOMEM, "out of memory reading the pickle");
      vm->stack = ns;
      vm->stack_cap = nc;
    }
  vm->stack[vm->sp++] = v;
  return MAGVLT_OK;
}

static size_t
frame_base (const pk_vm *vm)
{
  return vm->n_marks ? vm->marks[vm->n_marks - 1] : 0;
}

static magvlt_status
pop (pk_vm *vm, pv **out)
{
  if (vm->sp <= frame_base (vm))
    return vm_error (vm, "the stack is empty%s", vm->n_marks ? " above the MARK" : "");
  *out = vm->stack[--vm->sp];
  return MAGVLT_OK;
}

static magvlt_status
top (pk_vm *vm, pv **out)
{
  if (vm->sp <= frame_base (vm))
    return vm_error (vm, "the stack is empty%s", vm->n_marks ? " above the MARK" : "");
  *out = vm->stack[vm->sp - 1];
  return MAGVLT_OK;
}

/* Items since the last MARK: [*items, *items + *n); the MARK is removed and
 * the caller must drop the items with vm->sp = (mark position). */
static magvlt_status
pop_mark (pk_vm *vm, pv ***items, size_t *n)
{
  if (vm->n_marks == 0)
    return vm_error (vm, "no MARK on the stack%s", NULL);
  size_t m = vm->marks[--vm->n_marks];
  *items = vm->stack ? vm->stack + m : NULL; /* nothing pushed yet: no stack at all */
  *n = vm->sp - m;
  vm->sp = m;
  return MAGVLT_OK;
}

static magvlt_status
new_seq (pk_vm *vm, pv_kind kind, pv **items, size_t n, pv **out)
{
  pv *t = new_value (vm, kind);
  if (!t)
    return vm_fail_mem (vm);
  if (n)
    {
      t->u.seq.v = vm_alloc (vm, n * sizeof (pv *));
      if (!t->u.seq.v)
        return vm_fail_mem (vm);
      memcpy (t->u.seq.v, items, n * sizeof (pv *));
    }
  t->u.seq.n = t->u.seq.cap = n;
  *out = t;
  return MAGVLT_OK;
}

static magvlt_status
dict_set (pk_vm *vm, pv *d, pv *k, pv *v)
{
  if (d->u.dict.n == d->u.dict.cap)
    {
      size_t nc = d->u.dict.cap ? d->u.dict.cap * 2 : 4;
      pv **nk = vm_alloc (vm, nc * sizeof *nk), **nv = vm_alloc (vm, nc * sizeof *nv);
      if (!nk || !nv)
        return vm_fail_mem (vm);
      if (d->u.dict.n)
        {
          memcpy (nk, d->u.dict.k, d->u.dict.n * sizeof *nk);
          memcpy (nv, d->u.dict.v, d->u.dict.n * sizeof *nv);
        }
      d->u.dict.k = nk;
      d->u.dict.v = nv;
      d->u.dict.cap = nc;
    }
  d->u.dict.k[d->u.dict.n] = k;
  d->u.dict.v[d->u.dict.n++] = v;
  return MAGVLT_OK;
}

/* SETITEM(S) and DICT: the target is a dict, or an opaque object (a dict
 * subclass pickled by reference), whose items are kept for lookups. */
static magvlt_status
set_items (pk_vm *vm, pv *target, pv **kv, size_t n)
{
  if (n % 2)
    return vm_error (vm, "an odd number of keys and values%s", NULL);
  if (target->kind == PV_OBJECT)
    {
      if (!target->u.obj.items && !(target->u.obj.items = new_value (vm, PV_DICT)))
        return vm_fail_mem (vm);
      target = target->u.obj.items;
    }
  if (target->kind != PV_DICT)
    {
      char d[120];
      describe (target, d, sizeof d, 0);
      return vm_error (vm, "the target is %s, not a dict", d);
    }
  for (size_t i = 0; i < n; i += 2)
    {
      magvlt_status st = dict_set (vm, target, kv[i], kv[i + 1]);
      if (st != MAGVLT_OK)
        return st;
    }
  return MAGVLT_OK;
}

static magvlt_status
append_items (pk_vm *vm, pv *target, pv **items, size_t n)
{
  if (target->kind == PV_OBJECT)
    return MAGVLT_OK; /* a list subclass by reference: its items are not needed */
  if (target->kind != PV_LIST && target->kind != PV_SET)
    {
      char d[120];
      describe (target, d, sizeof d, 0);
      return vm_error (vm, "the target is %s, not a list", d);
    }
  for (size_t i = 0; i < n; i++)
    if (!arr_push (vm, &target->u.seq.v, &target->u.seq.n, &target->u.seq.cap, items[i]))
      return vm_fail_mem (vm);
  return MAGVLT_OK;
}

/* ---- the memo ------------------------------------------------------------ */

static size_t
memo_slot (const pk_vm *vm, uint32_t key)
{
  size_t h = (size_t) (key * 2654435761u) & (vm->memo_cap - 1);
  while (vm->memo_vals[h] && vm->memo_keys[h] != key)
    h = (h + 1) & (vm->memo_cap - 1);
  return h;
}

static magvlt_status
memo_put (pk_vm *vm, uint64_t key, pv *v)
{
  if (key > UINT32_MAX)
    return vm_error (vm, "memo index out of range%s", NULL);
  if ((vm->memo_n + 1) * 2 > vm->memo_cap)
    {
      size_t nc = vm->memo_cap ? vm->memo_cap * 2 : 1024;
      if (!vm_count (vm, (nc - vm->memo_cap) * (sizeof (uint32_t) + sizeof (pv *))))
        return vm_fail_mem (vm);
      uint32_t *ok = vm->memo_keys;
      pv **ov = vm->memo_vals;
      size_t ocap = vm->memo_cap;
      vm->memo_keys = calloc (nc, sizeof *vm->memo_keys);
      vm->memo_vals = calloc (nc, sizeof *vm->memo_vals);
      if (!vm->memo_keys || !vm->memo_vals)
        {
          free (vm->memo_keys), free (vm->memo_vals);
          vm->memo_keys = ok, vm->memo_vals = ov;
          return mv_fail (MAGVLT_ERR_NOMEM, "out of memory reading the pickle");
        }
      vm->memo_cap = nc;
      for (size_t i = 0; i < ocap; i++)
        if (ov[i])
          {
            size_t s = memo_slot (vm, ok[i]);
            vm->memo_keys[s] = ok[i];
            vm->memo_vals[s] = ov[i];
          }
      free (ok);
      free (ov);
    }
  size_t s = memo_slot (vm, (uint32_t) key);
  if (!vm->memo_vals[s])
    vm->memo_n++;
  vm->memo_keys[s] = (uint32_t) key;
  vm->memo_vals[s] = v;
  return MAGVLT_OK;
}

static magvlt_status
memo_get (pk_vm *vm, uint64_t key)
{
  if (key <= UINT32_MAX && vm->memo_cap)
    {
      size_t s = memo_slot (vm, (uint32_t) key);
      if (vm->memo_vals[s])
        return push (vm, vm->memo_vals[s]);
    }
  char d[64];
  snprintf (d, sizeof d, "memo index %llu was never stored", (unsigned long long) key);
  return vm_error (vm, "%s", d);
}

/* ---- torch semantics ----------------------------------------------------- */

static bool
is_global (const pv *v, const char *module, const char *name)
{
  return v && v->kind == PV_GLOBAL && strcmp (v->u.g.module, module) == 0
         && strcmp (v->u.g.name, name) == 0;
}

static bool
text_of (const pv *v, const char **p, size_t *n)
{
  if (!v || (v->kind != PV_STR && v->kind != PV_BYTES))
    return false;
  *p = v->u.s.p;
  *n = v->u.s.n;
  return true;
}

static bool
text_is (const pv *v, const char *s)
{
  const char *p;
  size_t n;
  return text_of (v, &p, &n) && n == strlen (s) && memcmp (p, s, n) == 0;
}

static const struct {
  const char *cls;
  ck_dtype dtype;
} storage_classes[] = {
  { "FloatStorage", CK_DT_F32 },  { "HalfStorage", CK_DT_F16 }, { "BFloat16Storage", CK_DT_BF16 },
  { "DoubleStorage", CK_DT_F64 }, { "LongStorage", CK_DT_I64 }, { "IntStorage", CK_DT_I32 },
  { "ShortStorage", CK_DT_I16 },  { "CharStorage", CK_DT_I8 },  { "ByteStorage", CK_DT_U8 },
  { "BoolStorage", CK_DT_BOOL },
};

/* BINPERSID: ('storage', torch.XStorage, key, location, numel). */
static magvlt_status
persistent_load (pk_vm *vm, pv *pid, pv **out)
{
  const char *key, *loc;
  size_t nkey, nloc;
  pv **a = pid->kind == PV_TUPLE ? pid->u.seq.v : NULL;
  if (!a || pid->u.seq.n != 5 || !text_is (a[0], "storage") || a[1]->kind != PV_GLOBAL
      || !text_of (a[2], &key, &nkey) || !text_of (a[3], &loc, &nloc) || a[4]->kind != PV_INT
      || a[4]->u.i < 0)
    {
      char d[160];
      describe (pid, d, sizeof d, 0);
      return vm_error (vm,
                       "the persistent id is %s, not a torch storage record ('storage', class, "
                       "key, location, size)",
                       d);
    }
  if (nkey == 0 || nkey > 64)
    return vm_error (vm, "a storage key must have 1 to 64 characters%s", NULL);
  for (size_t i = 0; i < nkey; i++)
    {
      char c = key[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
            || c == '-' || c == '.')
          || (c == '.' && (i == 0 || key[i - 1] == '.')))
        {
          char q[160];
          ck_quote (key, nkey, q, sizeof q);
          return vm_error (vm, "storage key %s has characters a PyTorch key never has", q);
        }
    }
  pv *s = new_value (vm, PV_STORAGE);
  char cls[300];
  if (!s)
    return vm_fail_mem (vm);
  snprintf (cls, sizeof cls, "%s.%s", a[1]->u.g.module, a[1]->u.g.name);
  s->u.st.cls = vm_strdup (vm, cls, strlen (cls));
  s->u.st.key = vm_strdup (vm, key, nkey);
  s->u.st.where = vm_strdup (vm, loc, nloc > 32 ? 32 : nloc);
  s->u.st.numel = a[4]->u.i;
  s->u.st.dtype = CK_DT_UNKNOWN;
  if (strcmp (a[1]->u.g.module, "torch") == 0)
    for (size_t i = 0; i < sizeof storage_classes / sizeof storage_classes[0]; i++)
      if (strcmp (a[1]->u.g.name, storage_classes[i].cls) == 0)
        s->u.st.dtype = storage_classes[i].dtype;
  if (!s->u.st.cls || !s->u.st.key || !s->u.st.where)
    return vm_fail_mem (vm);
  *out = s;
  return MAGVLT_OK;
}

static magvlt_status
int_tuple (pk_vm *vm, const pv *t, int64_t *out, int *n, const char *what)
{
  if (!t || t->kind != PV_TUPLE)
    return vm_error (vm, "_rebuild_tensor_v2: the %s is not a tuple", what);
  if (t->u.seq.n > CK_MAX_DIMS)
    return vm_error (vm, "_rebuild_tensor_v2: the %s has more than 8 dimensions", what);
  for (size_t i = 0; i < t->u.seq.n; i++)
    {
      if (t->u.seq.v[i]->kind != PV_INT || t->u.seq.v[i]->u.i < 0)
        return vm_error (vm, "_rebuild_tensor_v2: the %s holds a value that is not an integer >= 0",
                         what);
      out[i] = t->u.seq.v[i]->u.i;
    }
  *n = (int) t->u.seq.n;
  return MAGVLT_OK;
}

/* torch._utils._rebuild_tensor_v2 (storage, storage_offset, size, stride,
 * requires_grad, backward_hooks[, metadata]); bounds are checked later,
 * against the storage's blob. */
static magvlt_status
rebuild_tensor (pk_vm *vm, const pv *args, pv **out)
{
  if (args->kind != PV_TUPLE || args->u.seq.n < 4)
    return vm_error (vm, "_rebuild_tensor_v2 needs (storage, offset, size, stride, ...)%s", NULL);
  pv **a = args->u.seq.v;
  if (a[0]->kind != PV_STORAGE)
    {
      char d[120];
      describe (a[0], d, sizeof d, 0);
      return vm_error (vm, "_rebuild_tensor_v2: the storage argument is %s", d);
    }
  if (a[1]->kind != PV_INT || a[1]->u.i < 0)
    return vm_error (vm, "_rebuild_tensor_v2: the storage offset is not an integer >= 0%s", NULL);
  pv *t = new_value (vm, PV_TENSOR);
  if (!t)
    return vm_fail_mem (vm);
  int nd_size = 0, nd_stride = 0;
  magvlt_status st;
  if ((st = int_tuple (vm, a[2], t->u.t.size, &nd_size, "size")) != MAGVLT_OK
      || (st = int_tuple (vm, a[3], t->u.t.stride, &nd_stride, "stride")) != MAGVLT_OK)
    return st;
  if (nd_size != nd_stride)
    return vm_error (vm, "_rebuild_tensor_v2: size and stride differ in length%s", NULL);
  t->u.t.storage = a[0];
  t->u.t.offset = a[1]->u.i;
  t->u.t.n_dims = nd_size;
  *out = t;
  return MAGVLT_OK;
}

/* REDUCE: the handful of meaningful calls, else an opaque record. */
static magvlt_status
reduce (pk_vm *vm, pv *callable, pv *args, pv **out)
{
  if (is_global (callable, "collections", "OrderedDict"))
    {
      if (args->kind == PV_TUPLE && args->u.seq.n == 0)
        return (*out = new_value (vm, PV_DICT)) ? MAGVLT_OK : vm_fail_mem (vm);
    }
  else if (is_global (callable, "torch._utils", "_rebuild_tensor_v2")
           || is_global (callable, "torch._utils", "_rebuild_tensor"))
    return rebuild_tensor (vm, args, out);
  else if ((is_global (callable, "torch._utils", "_rebuild_parameter")
            || is_global (callable, "torch._utils", "_rebuild_parameter_with_state"))
           && args->kind == PV_TUPLE && args->u.seq.n >= 1 && args->u.seq.v[0]->kind == PV_TENSOR)
    {
      *out = args->u.seq.v[0];
      return MAGVLT_OK;
    }
  pv *o = new_value (vm, PV_OBJECT);
  if (!o)
    return vm_fail_mem (vm);
  o->u.obj.callable = callable;
  o->u.obj.args = args;
  *out = o;
  return MAGVLT_OK;
}

/* GLOBAL's "module\nname\n": printable ASCII, at most 256 bytes each. */
static magvlt_status
read_line (pk_vm *vm, const char **s, size_t *len)
{
  const uint8_t *p = vm->buf + vm->pos, *end = vm->buf + vm->n;
  const uint8_t *nl = memchr (p, '\n', (size_t) (end - p) < 257 ? (size_t) (end - p) : 257);
  if (!nl)
    return vm_error (vm, "a module or attribute name without a newline within 256 bytes%s", NULL);
  for (const uint8_t *q = p; q < nl; q++)
    if (*q < 0x20 || *q >= 0x7f)
      return vm_error (vm, "a module or attribute name with a non-printable byte%s", NULL);
  *s = (const char *) p;
  *len = (size_t) (nl - p);
  vm->pos += *len + 1;
  return MAGVLT_OK;
}

static magvlt_status
make_global (pk_vm *vm, const char *mod, size_t nmod, const char *name, size_t nname, pv **out)
{
  if (nmod == 0 || nname == 0 || nmod > 256 || nname > 256)
    return vm_error (vm, "a module or attribute name that is empty or over 256 bytes%s", NULL);
  pv *g = new_value (vm, PV_GLOBAL);
  if (!g || !(g->u.g.module = vm_strdup (vm, mod, nmod))
      || !(g->u.g.name = vm_strdup (vm, name, nname)))
    return vm_fail_mem (vm);
  if (memchr (g->u.g.module, 0, nmod) || memchr (g->u.g.name, 0, nname))
    return vm_error (vm, "a module or attribute name with a NUL byte%s", NULL);
  *out = g;
  return MAGVLT_OK;
}

static magvlt_status
bytes_value (pk_vm *vm, pv_kind kind, uint64_t len, int header)
{
  magvlt_status st;
  vm->pos += (size_t) header;
  if ((st = need (vm, len)) != MAGVLT_OK)
    return st;
  pv *v = new_value (vm, kind);
  if (!v)
    return vm_fail_mem (vm);
  v->u.s.p = (const char *) vm->buf + vm->pos;
  v->u.s.n = (size_t) len;
  vm->pos += (size_t) len;
  return push (vm, v);
}

static magvlt_status
int_value (pk_vm *vm, int64_t i)
{
  pv *v = new_value (vm, PV_INT);
  if (v)
    v->u.i = i;
  return push (vm, v);
}

/* LONG1 / LONG4: little-endian two's complement of len bytes. */
static magvlt_status
long_value (pk_vm *vm, uint64_t len)
{
  magvlt_status st;
  if ((st = need (vm, len)) != MAGVLT_OK)
    return st;
  const uint8_t *p = vm->buf + vm->pos;
  vm->pos += (size_t) len;
  if (len > 8)
    return push (vm, new_value (vm, PV_BIGINT));
  uint64_t u = len ? le (p, (int) len) : 0;
  if (len && len < 8 && (p[len - 1] & 0x80))
    u |= ~(uint64_t) 0 << (8 * len);
  int64_t i;
  memcpy (&i, &u, sizeof i);
  return int_value (vm, i);
}

/* ---- the interpreter ----------------------------------------------------- */

static magvlt_status
step (pk_vm *vm, const pv **root, bool *done)
{
  magvlt_status st = MAGVLT_OK;
  pv *a = NULL, *b = NULL, *c = NULL, **items = NULL;
  size_t n = 0;
  const uint8_t *p;

  vm->op_at = vm->pos;
  vm->op = vm->buf[vm->pos++];
  p = vm->buf + vm->pos;
  switch (vm->op)
    {
    case 0x80: /* PROTO */
      if ((st = need (vm, 1)))
        return st;
      if (p[0] > 5)
        return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                        "pickle offset %zu: protocol %u is newer than the 5 this reader knows",
                        vm->op_at, p[0]);
      vm->pos += 1;
      return MAGVLT_OK;
    case 0x95: /* FRAME: a length hint only */
      if ((st = need (vm, 8)))
        return st;
      vm->pos += 8;
      return need (vm, le (p, 8));
    case '.': /* STOP */
      if ((st = pop (vm, &a)))
        return st;
      *root = a;
      *done = true;
      return MAGVLT_OK;
    case '(': /* MARK */
      if (vm->n_marks >= (size_t) vm->lim.max_marks)
        {
          char d[64];
          snprintf (d, sizeof d, "more than %d nested MARKs", vm->lim.max_marks);
          return vm_error (vm, "%s (a hostile or damaged pickle)", d);
        }
      if (vm->n_marks == vm->marks_cap)
        {
          size_t nc = vm->marks_cap ? vm->marks_cap * 2 : 64;
          if (!vm_count (vm, (nc - vm->marks_cap) * sizeof (size_t)))
            return vm_fail_mem (vm);
          size_t *nm = realloc (vm->marks, nc * sizeof *nm);
          if (!nm)
            return mv_fail (MAGVLT_ERR_NOMEM, "out of memory reading the pickle");
          vm->marks = nm;
          vm->marks_cap = nc;
        }
      vm->marks[vm->n_marks++] = vm->sp;
      return MAGVLT_OK;
    case '0': /* POP */
      if (vm->sp > frame_base (vm))
        return pop (vm, &a);
      return pop_mark (vm, &items, &n);
    case '1': /* POP_MARK */ return pop_mark (vm, &items, &n);
    case '2': /* DUP */
      if ((st = top (vm, &a)))
        return st;
      return push (vm, a);

    case 'N': return push (vm, &vm->none);
    case 0x88: return push (vm, &vm->yes);
    case 0x89: return push (vm, &vm->no);
    case 'J': /* BININT */
      if ((st = need (vm, 4)))
        return st;
      vm->pos += 4;
      return int_value (vm, (int32_t) (uint32_t) le (p, 4));
    case 'K': /* BININT1 */
      if ((st = need (vm, 1)))
        return st;
      vm->pos += 1;
      return int_value (vm, p[0]);
    case 'M': /* BININT2 */
      if ((st = need (vm, 2)))
        return st;
      vm->pos += 2;
      return int_value (vm, (int64_t) le (p, 2));
    case 0x8a: /* LONG1 */
      if ((st = need (vm, 1)))
        return st;
      vm->pos += 1;
      return long_value (vm, p[0]);
    case 0x8b: /* LONG4 */
      if ((st = need (vm, 4)))
        return st;
      vm->pos += 4;
      if ((int32_t) le (p, 4) < 0)
        return vm_error (vm, "negative length%s", NULL);
      return long_value (vm, le (p, 4));
    case 'G': /* BINFLOAT, big-endian */
      {
        if ((st = need (vm, 8)))
          return st;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++)
          u = (u << 8) | p[i];
        vm->pos += 8;
        pv *f = new_value (vm, PV_FLOAT);
        if (f)
          memcpy (&f->u.f, &u, 8);
        return push (vm, f);
      }

    case 'T': /* BINSTRING: signed 32-bit length */
      if ((st = need (vm, 4)))
        return st;
      if ((int32_t) le (p, 4) < 0)
        return vm_error (vm, "negative length%s", NULL);
      return bytes_value (vm, PV_BYTES, le (p, 4), 4);
    case 'U':  /* SHORT_BINSTRING */
    case 'C':  /* SHORT_BINBYTES */
    case 0x8c: /* SHORT_BINUNICODE */
      if ((st = need (vm, 1)))
        return st;
      return bytes_value (vm, vm->op == 0x8c ? PV_STR : PV_BYTES, p[0], 1);
    case 'B': /* BINBYTES */
    case 'X': /* BINUNICODE */
      if ((st = need (vm, 4)))
        return st;
      return bytes_value (vm, vm->op == 'X' ? PV_STR : PV_BYTES, le (p, 4), 4);
    case 0x8d: /* BINUNICODE8 */
    case 0x8e: /* BINBYTES8 */
    case 0x96: /* BYTEARRAY8 */
      if ((st = need (vm, 8)))
        return st;
      return bytes_value (vm, vm->op == 0x8d ? PV_STR : PV_BYTES, le (p, 8), 8);

    case ')': return new_seq (vm, PV_TUPLE, NULL, 0, &a) ? vm_fail_mem (vm) : push (vm, a);
    case ']': return push (vm, new_value (vm, PV_LIST));
    case '}': return push (vm, new_value (vm, PV_DICT));
    case 0x8f: return push (vm, new_value (vm, PV_SET));
    case 0x85: /* TUPLE1 */
    case 0x86: /* TUPLE2 */
    case 0x87: /* TUPLE3 */
      {
        size_t k = (size_t) (vm->op - 0x84);
        if (vm->sp < frame_base (vm) + k)
          return vm_error (vm, "the stack holds fewer items than the tuple needs%s", NULL);
        vm->sp -= k;
        if ((st = new_seq (vm, PV_TUPLE, vm->stack + vm->sp, k, &a)))
          return st;
        return push (vm, a);
      }
    case 't':  /* TUPLE */
    case 'l':  /* LIST */
    case 0x91: /* FROZENSET */
      if ((st = pop_mark (vm, &items, &n))
          || (st = new_seq (vm,
                            vm->op == 't'   ? PV_TUPLE
                            : vm->op == 'l' ? PV_LIST
                                            : PV_SET,
                            items, n, &a)))
        return st;
      return push (vm, a);
    case 'd': /* DICT */
      if ((st = pop_mark (vm, &items, &n)))
        return st;
      if (!(a = new_value (vm, PV_DICT)))
        return vm_fail_mem (vm);
      if ((st = set_items (vm, a, items, n)))
        return st;
      return push (vm, a);
    case 'a': /* APPEND */
      if ((st = pop (vm, &b)) || (st = top (vm, &a)))
        return st;
      return append_items (vm, a, &b, 1);
    case 'e':  /* APPENDS */
    case 0x90: /* ADDITEMS */
      if ((st = pop_mark (vm, &items, &n)) || (st = top (vm, &a)))
        return st;
      return append_items (vm, a, items, n);
    case 's': /* SETITEM */
      {
        pv *kv[2];
        if ((st = pop (vm, &kv[1])) || (st = pop (vm, &kv[0])) || (st = top (vm, &a)))
          return st;
        return set_items (vm, a, kv, 2);
      }
    case 'u': /* SETITEMS */
      if ((st = pop_mark (vm, &items, &n)) || (st = top (vm, &a)))
        return st;
      return set_items (vm, a, items, n);

    case 'q': /* BINPUT */
    case 'h': /* BINGET */
      if ((st = need (vm, 1)))
        return st;
      vm->pos += 1;
      if (vm->op == 'h')
        return memo_get (vm, p[0]);
      if ((st = top (vm, &a)))
        return st;
      return memo_put (vm, p[0], a);
    case 'r': /* LONG_BINPUT */
    case 'j': /* LONG_BINGET */
      if ((st = need (vm, 4)))
        return st;
      vm->pos += 4;
      if (vm->op == 'j')
        return memo_get (vm, le (p, 4));
      if ((st = top (vm, &a)))
        return st;
      return memo_put (vm, le (p, 4), a);
    case 0x94: /* MEMOIZE */
      if ((st = top (vm, &a)))
        return st;
      return memo_put (vm, vm->memo_n, a);

    case 'c': /* GLOBAL */
      {
        const char *mod, *name;
        size_t nm, nn;
        if ((st = read_line (vm, &mod, &nm)) || (st = read_line (vm, &name, &nn))
            || (st = make_global (vm, mod, nm, name, nn, &a)))
          return st;
        return push (vm, a);
      }
    case 0x93: /* STACK_GLOBAL */
      {
        const char *mod, *name;
        size_t nm, nn;
        if ((st = pop (vm, &b)) || (st = pop (vm, &a)))
          return st;
        if (a->kind != PV_STR || b->kind != PV_STR)
          return vm_error (vm, "module and attribute names must be strings%s", NULL);
        text_of (a, &mod, &nm);
        text_of (b, &name, &nn);
        if ((st = make_global (vm, mod, nm, name, nn, &c)))
          return st;
        return push (vm, c);
      }
    case 0x82: /* EXT1 */
    case 0x83: /* EXT2 */
    case 0x84: /* EXT4 */
      {
        int k = vm->op == 0x82 ? 1 : vm->op == 0x83 ? 2 : 4;
        char code[32];
        if ((st = need (vm, (uint64_t) k)))
          return st;
        vm->pos += (size_t) k;
        snprintf (code, sizeof code, "%llu", (unsigned long long) le (p, k));
        if ((st = make_global (vm, "copyreg.extension", 17, code, strlen (code), &a)))
          return st;
        return push (vm, a);
      }
    case 'R': /* REDUCE */
      if ((st = pop (vm, &b)) || (st = pop (vm, &a)) || (st = reduce (vm, a, b, &c)))
        return st;
      return push (vm, c);
    case 0x81: /* NEWOBJ: cls, args */
    case 0x92: /* NEWOBJ_EX: cls, args, kwargs */
      if (vm->op == 0x92 && (st = pop (vm, &c)))
        return st;
      if ((st = pop (vm, &b)) || (st = pop (vm, &a)))
        return st;
      if (!(c = new_value (vm, PV_OBJECT)))
        return vm_fail_mem (vm);
      c->u.obj.callable = a;
      c->u.obj.args = b;
      return push (vm, c);
    case 'o': /* OBJ: MARK cls args... */
      if ((st = pop_mark (vm, &items, &n)))
        return st;
      if (n < 1)
        return vm_error (vm, "no class on the stack%s", NULL);
      if (!(c = new_value (vm, PV_OBJECT)) || new_seq (vm, PV_TUPLE, items + 1, n - 1, &b))
        return vm_fail_mem (vm);
      c->u.obj.callable = items[0];
      c->u.obj.args = b;
      return push (vm, c);
    case 'b': /* BUILD */
      if ((st = pop (vm, &b)) || (st = top (vm, &a)))
        return st;
      if (a->kind == PV_OBJECT)
        a->u.obj.state = b;
      /* else: an OrderedDict's _metadata and the like — not needed */
      return MAGVLT_OK;
    case 'Q': /* BINPERSID */
      if ((st = pop (vm, &a)) || (st = persistent_load (vm, a, &b)))
        return st;
      return push (vm, b);

    case 0x97: /* NEXT_BUFFER */
    case 0x98: /* READONLY_BUFFER */
      return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                      "pickle offset %zu: out-of-band buffers (protocol 5 %s) are not supported",
                      vm->op_at, op_name (vm->op));
    case 'I':
    case 'L':
    case 'F':
    case 'S':
    case 'V':
    case 'P':
    case 'p':
    case 'g':
    case 'i':
      return mv_fail (MAGVLT_ERR_UNSUPPORTED,
                      "pickle offset %zu: the protocol-0 text opcode %s is not supported "
                      "(torch.save writes protocol 2)",
                      vm->op_at, op_name (vm->op));
    default:
      return mv_fail (MAGVLT_ERR_FORMAT,
                      "pickle offset %zu: unknown opcode 0x%02x (a damaged pickle, or not a "
                      "pickle)",
                      vm->op_at, vm->op);
    }
}

magvlt_status
pk_load (const uint8_t *buf, size_t n, const pk_limits *limits, pk_vm **out_vm, const pv **root)
{
  *out_vm = NULL;
  *root = NULL;
  pk_vm *vm = calloc (1, sizeof *vm);
  if (!vm)
    return mv_fail (MAGVLT_ERR_NOMEM, "out of memory");
  vm->lim.max_bytes = limits && limits->max_bytes ? limits->max_bytes : (size_t) 512 << 20;
  vm->lim.max_marks = limits && limits->max_marks > 0 ? limits->max_marks : 10000;
  vm->buf = buf;
  vm->n = n;
  vm->none.kind = PV_NONE;
  vm->yes.kind = vm->no.kind = PV_BOOL;
  vm->yes.u.b = true;

  bool done = false;
  magvlt_status st = MAGVLT_OK;
  while (st == MAGVLT_OK && !done)
    {
      if (vm->pos >= vm->n)
        {
          vm->op_at = vm->pos;
          st = mv_fail (MAGVLT_ERR_FORMAT,
                        "pickle offset %zu: the pickle ends without a STOP opcode (truncated)",
                        vm->pos);
          break;
        }
      st = step (vm, root, &done);
    }
  if (st != MAGVLT_OK)
    {
      *root = NULL;
      pk_free (vm);
      return st;
    }
  *out_vm = vm;
  return MAGVLT_OK;
}

const pv *
pk_dict_get (const pv *d, const char *key)
{
  if (d && d->kind == PV_OBJECT)
    d = d->u.obj.items;
  if (!d || d->kind != PV_DICT)
    return NULL;
  size_t lk = strlen (key);
  for (size_t i = 0; i < d->u.dict.n; i++)
    {
      const pv *k = d->u.dict.k[i];
      if (k->kind == PV_STR && k->u.s.n == lk && memcmp (k->u.s.p, key, lk) == 0)
        return d->u.dict.v[i];
    }
  return NULL;
}
