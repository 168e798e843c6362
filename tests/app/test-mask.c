/* test-mask.c — the mask model without a display: stroke rasterisation
 * (pixel-exact), erase, clear, invert, bbox, PNG round trip and the mask
 * file rules. */
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "studio-mask.h"

static int
count (StudioMask *m)
{
  int n = 0;
  for (int y = 0; y < studio_mask_get_height (m); y++)
    for (int x = 0; x < studio_mask_get_width (m); x++)
      n += studio_mask_get_pixel (m, x, y) == 255;
  return n;
}

static void
test_dab (void)
{
  g_autoptr (StudioMask) m = studio_mask_new (20, 20);
  int x, y, w, h;

  /* a dab of radius 2 on a pixel centre covers the 13 pixels whose centres
   * are within distance 2: the centre, 4 at distance 1, 4 at √2, 4 at 2 */
  studio_mask_stroke (m, 5.5, 5.5, 5.5, 5.5, 2.0, FALSE);
  g_assert_cmpint (count (m), ==, 13);
  g_assert_cmpint (studio_mask_get_pixel (m, 5, 3), ==, 255);
  g_assert_cmpint (studio_mask_get_pixel (m, 4, 4), ==, 255);
  g_assert_cmpint (studio_mask_get_pixel (m, 3, 4), ==, 0); /* distance √5 */
  g_assert_true (studio_mask_get_bbox (m, &x, &y, &w, &h));
  g_assert_cmpint (x, ==, 3);
  g_assert_cmpint (y, ==, 3);
  g_assert_cmpint (w, ==, 5);
  g_assert_cmpint (h, ==, 5);
}

static void
test_stroke_round_caps (void)
{
  g_autoptr (StudioMask) m = studio_mask_new (12, 6);

  /* a segment from (2.5, 2.5) to (7.5, 2.5) with radius 1: rows 1–3 for
   * x = 2..7 (18 pixels) plus one pixel of each round cap (x = 1 and 8) */
  studio_mask_stroke (m, 2.5, 2.5, 7.5, 2.5, 1.0, FALSE);
  g_assert_cmpint (count (m), ==, 20);
  g_assert_cmpint (studio_mask_get_pixel (m, 1, 2), ==, 255);
  g_assert_cmpint (studio_mask_get_pixel (m, 8, 2), ==, 255);
  g_assert_cmpint (studio_mask_get_pixel (m, 1, 1), ==, 0);
  g_assert_cmpint (studio_mask_get_pixel (m, 9, 2), ==, 0);

  /* erasing with the same stroke leaves nothing */
  studio_mask_stroke (m, 2.5, 2.5, 7.5, 2.5, 1.0, TRUE);
  g_assert_true (studio_mask_is_empty (m));
}

static void
test_fast_stroke_is_continuous (void)
{
  g_autoptr (StudioMask) m = studio_mask_new (100, 10);

  /* two pointer positions 90 px apart: every column between them is painted */
  studio_mask_stroke (m, 5.5, 5.5, 95.5, 5.5, 0.5, FALSE);
  for (int x = 5; x <= 95; x++)
    g_assert_cmpint (studio_mask_get_pixel (m, x, 5), ==, 255);
}

static void
test_edges_and_bad_values (void)
{
  g_autoptr (StudioMask) m = studio_mask_new (8, 8);

  /* strokes partly or wholly outside are clipped; nonsense is ignored */
  studio_mask_stroke (m, -3, -3, 1.5, 1.5, 1.0, FALSE);
  g_assert_cmpint (studio_mask_get_pixel (m, 0, 0), ==, 255);
  studio_mask_stroke (m, 100, 100, 200, 200, 5, FALSE);
  studio_mask_stroke (m, NAN, 1, 2, 2, 5, FALSE);
  studio_mask_stroke (m, 1, 1, 2, 2, -1, FALSE);
  studio_mask_stroke (m, 1, 1, 2, 2, INFINITY, FALSE);
  g_assert_cmpint (count (m), <, 10);
}

static void
test_clear_invert (void)
{
  g_autoptr (StudioMask) m = studio_mask_new (10, 10);
  g_autoptr (StudioMask) copy = NULL;

  studio_mask_stroke (m, 2.5, 2.5, 2.5, 2.5, 1.0, FALSE);
  copy = studio_mask_copy (m);
  g_assert_true (studio_mask_equal (m, copy));
  studio_mask_invert (m);
  g_assert_cmpint (count (m), ==, 100 - 5);
  studio_mask_invert (m);
  g_assert_true (studio_mask_equal (m, copy));
  studio_mask_clear (m);
  g_assert_true (studio_mask_is_empty (m));
  g_assert_false (studio_mask_get_bbox (m, NULL, NULL, NULL, NULL));
  studio_mask_assign (m, copy);
  g_assert_true (studio_mask_equal (m, copy));
}

static void
test_png (void)
{
  g_autofree char *dir = g_dir_make_tmp ("studio-mask-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "mask.png", NULL);
  g_autofree char *bad = g_build_filename (dir, "bad.png", NULL);
  g_autoptr (StudioMask) m = studio_mask_new (31, 17);
  g_autoptr (StudioMask) back = studio_mask_new (31, 17);
  g_autoptr (StudioMask) big = studio_mask_new (62, 34);
  g_autoptr (GError) error = NULL;
  gboolean resized = TRUE;

  studio_mask_stroke (m, 3, 4, 25, 12, 3.0, FALSE);
  g_assert_true (studio_mask_save_png (m, path, &error));
  g_assert_true (studio_mask_load_png (back, path, &resized, &error));
  g_assert_no_error (error);
  g_assert_false (resized);
  g_assert_true (studio_mask_equal (m, back));

  /* another size: scaled with nearest neighbour, and reported */
  g_assert_true (studio_mask_load_png (big, path, &resized, &error));
  g_assert_true (resized);
  for (int y = 0; y < 34; y++)
    for (int x = 0; x < 62; x++)
      g_assert_cmpint (studio_mask_get_pixel (big, x, y), ==,
                       studio_mask_get_pixel (m, x / 2, y / 2));

  /* not an image: an error, and the mask is untouched */
  g_file_set_contents (bad, "not a png", -1, NULL);
  g_assert_false (studio_mask_load_png (back, bad, NULL, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_true (studio_mask_equal (m, back));
  g_assert_false (studio_mask_load_png (back, "/nonexistent/mask.png", NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);

  g_unlink (path);
  g_unlink (bad);
  g_rmdir (dir);
}

/* A mask file selects the pixels `magvlt inpaint --mask` selects: luma (not
 * the mean of R, G, B) and the source pixel under each target pixel's
 * centre (tools/image-io.c, cli_mask_from_pixbuf). */
static void
test_png_like_cli (void)
{
  g_autofree char *dir = g_dir_make_tmp ("studio-mask-XXXXXX", NULL);
  g_autofree char *colours = g_build_filename (dir, "colours.png", NULL);
  g_autofree char *stripes = g_build_filename (dir, "stripes.png", NULL);
  g_autoptr (GdkPixbuf) pb = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, 4, 1);
  g_autoptr (StudioMask) m = studio_mask_new (4, 1);
  g_autoptr (StudioMask) half = studio_mask_new (2, 1);
  g_autoptr (GError) error = NULL;
  guint8 *px = gdk_pixbuf_get_pixels (pb);
  /* green (luma 150: painted; mean 85), red (76), blue (29), grey 128 */
  const guint8 rgb[4][3] = { { 0, 255, 0 }, { 255, 0, 0 }, { 0, 0, 255 }, { 128, 128, 128 } };

  for (int i = 0; i < 4; i++)
    memcpy (px + i * 3, rgb[i], 3);
  g_assert_true (gdk_pixbuf_save (pb, colours, "png", &error, NULL));
  g_assert_true (studio_mask_load_png (m, colours, NULL, &error));
  g_assert_cmpint (studio_mask_get_pixel (m, 0, 0), ==, 255);
  g_assert_cmpint (studio_mask_get_pixel (m, 1, 0), ==, 0);
  g_assert_cmpint (studio_mask_get_pixel (m, 2, 0), ==, 0);
  g_assert_cmpint (studio_mask_get_pixel (m, 3, 0), ==, 255);

  /* black, white, black, white scaled to 2 pixels: the centres fall on white */
  for (int i = 0; i < 4; i++)
    memset (px + i * 3, i % 2 ? 255 : 0, 3);
  g_assert_true (gdk_pixbuf_save (pb, stripes, "png", &error, NULL));
  g_assert_true (studio_mask_load_png (half, stripes, NULL, &error));
  g_assert_cmpint (studio_mask_get_pixel (half, 0, 0), ==, 255);
  g_assert_cmpint (studio_mask_get_pixel (half, 1, 0), ==, 255);

  g_unlink (colours);
  g_unlink (stripes);
  g_rmdir (dir);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mask/dab", test_dab);
  g_test_add_func ("/mask/stroke-round-caps", test_stroke_round_caps);
  g_test_add_func ("/mask/fast-stroke", test_fast_stroke_is_continuous);
  g_test_add_func ("/mask/edges", test_edges_and_bad_values);
  g_test_add_func ("/mask/clear-invert", test_clear_invert);
  g_test_add_func ("/mask/png", test_png);
  g_test_add_func ("/mask/png-like-cli", test_png_like_cli);
  return g_test_run ();
}
