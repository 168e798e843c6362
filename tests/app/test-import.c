/* test-import.c — display-less: which files beside an official checkpoint
 * the import pairs it with (studio_import_find_config / _find_merges): the
 * ones named after it first, a folder's only YAML, and no guess among
 * several (a base checkpoint must never get the large one's config); and
 * where the model goes (studio_import_output_path): never over an earlier
 * import.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>

#include "studio-import.h"

static char *tmpdir;

static char *
touch (const char *dir, const char *name)
{
  char *path = g_build_filename (dir, name, NULL);

  g_assert_true (g_file_set_contents (path, "x", -1, NULL));
  return path;
}

/* a fresh folder holding a checkpoint and the given files */
static char *
folder (const char *ckpt, const char *const *names)
{
  static int n;
  g_autofree char *sub = g_strdup_printf ("case-%d", n++);
  char *dir = g_build_filename (tmpdir, sub, NULL);

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  g_free (touch (dir, ckpt));
  for (int i = 0; names[i]; i++)
    g_free (touch (dir, names[i]));
  return dir;
}

static void
expect_config (const char *ckpt, const char *const *names, const char *want)
{
  g_autofree char *dir = folder (ckpt, names);
  g_autofree char *path = g_build_filename (dir, ckpt, NULL);
  g_autofree char *got = studio_import_find_config (path);
  g_autofree char *got_base = got ? g_path_get_basename (got) : NULL;

  g_assert_cmpstr (got_base, ==, want);
}

static void
test_config (void)
{
  /* the released layout: base and large side by side, configs named after them */
  const char *both[] = { "magvlt-it2it-large.ckpt", "magvlt-it2it-large-sampling.yaml",
                         "magvlt-it2it-base-sampling.yaml", "config.yaml", NULL };
  const char *plain[] = { "zz.yaml", "magvlt-it2it-base.yaml", NULL };
  const char *prefixed[] = { "magvlt-it2it-base-v2.yaml", "other.yaml", NULL };
  const char *lone[] = { "config.yaml", NULL };
  const char *several[] = { "a.yaml", "b.yaml", NULL };
  const char *two_prefixed[] = { "magvlt-it2it-base-a.yaml", "magvlt-it2it-base-b.yaml", NULL };
  const char *none[] = { NULL };

  expect_config ("magvlt-it2it-base.ckpt", both, "magvlt-it2it-base-sampling.yaml");
  expect_config (
    "magvlt-it2it-large.ckpt",
    (const char *[]){ "magvlt-it2it-base-sampling.yaml", "magvlt-it2it-large-sampling.yaml", NULL },
    "magvlt-it2it-large-sampling.yaml");
  expect_config ("magvlt-it2it-base.ckpt", plain, "magvlt-it2it-base.yaml");
  expect_config ("magvlt-it2it-base.ckpt", prefixed, "magvlt-it2it-base-v2.yaml");
  expect_config ("magvlt-it2it-base.ckpt", lone, "config.yaml");
  expect_config ("magvlt-it2it-base.ckpt", several, NULL);
  expect_config ("magvlt-it2it-base.ckpt", two_prefixed, NULL);
  expect_config ("magvlt-it2it-base.ckpt", none, NULL);
}

static void
test_merges (void)
{
  const char *clip_first[] = { "merges.txt", "bpe_simple_vocab_16e6.txt.gz", NULL };
  const char *own[] = { "merges.txt", "model-merges.txt", NULL };
  const char *generic[] = { "merges.txt", NULL };
  const char *none[] = { "readme.txt", NULL };
  struct {
    const char *const *names;
    const char *want;
  } cases[] = { { clip_first, "bpe_simple_vocab_16e6.txt.gz" },
                { own, "model-merges.txt" },
                { generic, "merges.txt" },
                { none, NULL } };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *dir = folder ("model.ckpt", cases[i].names);
      g_autofree char *path = g_build_filename (dir, "model.ckpt", NULL);
      g_autofree char *got = studio_import_find_merges (path);
      g_autofree char *got_base = got ? g_path_get_basename (got) : NULL;

      g_assert_cmpstr (got_base, ==, cases[i].want);
    }
}

static void
test_output_path (void)
{
  g_autofree char *out = g_build_filename (tmpdir, "models", NULL);
  g_autofree char *v10 = NULL, *v11 = NULL, *again = NULL, *v10_base = NULL, *v11_base = NULL,
                  *again_base = NULL;

  g_assert_cmpint (g_mkdir (out, 0755), ==, 0);
  /* the name without its last extension only: v1.0 and v1.1 stay apart */
  v10 = studio_import_output_path ("/ckpts/model-v1.0.ckpt", out);
  v11 = studio_import_output_path ("/ckpts/model-v1.1.ckpt", out);
  v10_base = g_path_get_basename (v10);
  v11_base = g_path_get_basename (v11);
  g_assert_cmpstr (v10_base, ==, "model-v1.0.gguf");
  g_assert_cmpstr (v11_base, ==, "model-v1.1.gguf");
  /* an earlier import of the same name is kept */
  g_assert_true (g_file_set_contents (v10, "x", -1, NULL));
  again = studio_import_output_path ("/other/run/model-v1.0.ckpt", out);
  again_base = g_path_get_basename (again);
  g_assert_cmpstr (again_base, ==, "model-v1.0-2.gguf");
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  const char *name;

  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("test-import-XXXXXX", NULL);
  g_test_add_func ("/import/config", test_config);
  g_test_add_func ("/import/merges", test_merges);
  g_test_add_func ("/import/output-path", test_output_path);
  status = g_test_run ();
  remove_tree (tmpdir);
  g_free (tmpdir);
  return status;
}
