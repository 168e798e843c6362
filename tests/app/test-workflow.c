/* test-workflow.c — display test (Xvfb): the parts of the editing workflow
 * that need a window and real input.
 *
 *   /workflow/preferences  GSettings keys drive the window's controls and
 *                          jobs; the window and the preferences window write
 *                          the keys back
 *   /workflow/clipboard    Ctrl+C (a real key press) puts the image, or the
 *                          candidate on show, on the clipboard; in the caption
 *                          box Ctrl+C copies the selected words and typed
 *                          letters stay letters (no tool switch)
 *   /workflow/drop         the "Drop Image to Edit" overlay shows on enter; a
 *                          dropped file list or GFile opens the image; a drop
 *                          that cannot be opened is refused
 *   /workflow/close        closing with an unaccepted candidate or unsaved
 *                          changes asks; Cancel keeps the window and the work,
 *                          Discard closes
 *   /workflow/compare      pressing and holding "Hold to Compare" (a real
 *                          pointer press), or the backslash key, shows the
 *                          image before; release shows the candidate again
 *   /workflow/replace      opening or pasting another image over unsaved
 *                          work or waiting results asks (Cancel keeps all,
 *                          Discard starts a new document); Caption keeps
 *                          the results waiting; no open or paste while a
 *                          job runs
 *   /workflow/paint-hidden-mask  a drag while a candidate is on show leaves
 *                          the (hidden) mask alone; after Discard it paints
 *   /workflow/use-model    a broken model file: the model in use stays, and
 *                          stays named; a good one becomes the default
 *   /workflow/caption-notices  a caption cut at the model's text length,
 *                          one of only unknown characters, or an empty one
 *                          is reported when the result arrives
 *   /workflow/undo-budget  the undo history of a large image stays within
 *                          STUDIO_UNDO_BUDGET, keeping its newest steps
 *   /workflow/zoom         zoom in, out and to fit (actions and keys); a
 *                          result of another size is shown whole
 *   /workflow/save-names   images and masks are saved as PNG: another
 *                          extension is refused, none gets .png (never over
 *                          an existing file)
 *
 * Real key and pointer events come from the XTEST extension (libXtst,
 * loaded at run time), so the events go through GTK's whole dispatch.
 *
 * Usage: test-workflow MODEL.gguf */
#include <X11/keysym.h>
#include <adwaita.h>
#include <dlfcn.h>
#include <gdk/x11/gdkx.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "studio-application.h"
#include "studio-preferences.h"
#include "studio-window-private.h"

static const char *model_path;
static char *tmpdir;
static StudioApplication *app;

/* ---- helpers ------------------------------------------------------------ */

static void
spin (int ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < end)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (2000);
    }
}

static gboolean
state_bool (GActionGroup *g, const char *name)
{
  g_autoptr (GVariant) v = g_action_group_get_action_state (g, name);
  return g_variant_get_boolean (v);
}

/* the text of the last toast or dialog (win.last-error, ux.md) */
static const char *
last_error (StudioWindow *win)
{
  static char buf[512];
  g_autoptr (GVariant) v = g_action_group_get_action_state (G_ACTION_GROUP (win), "last-error");

  g_strlcpy (buf, g_variant_get_string (v, NULL), sizeof buf);
  return buf;
}

static void
spin_until_bool (GActionGroup *g, const char *name, gboolean value)
{
  gint64 end = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  while (state_bool (g, name) != value && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (state_bool (g, name) == value);
}

/* a PNG with a pattern that no model output reproduces */
static char *
write_png (const char *name, int w, int h, guint8 salt)
{
  g_autoptr (GdkPixbuf) pb = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, w, h);
  guint8 *p = gdk_pixbuf_get_pixels (pb);
  int rs = gdk_pixbuf_get_rowstride (pb);
  char *path = g_build_filename (tmpdir, name, NULL);
  g_autoptr (GError) error = NULL;

  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        p[y * rs + x * 3 + 0] = (guint8) (x * 4 + salt);
        p[y * rs + x * 3 + 1] = (guint8) (y * 5);
        p[y * rs + x * 3 + 2] = (guint8) (x * y + salt);
      }
  g_assert_true (gdk_pixbuf_save (pb, path, "png", &error, NULL));
  return path;
}

/* whether a texture holds exactly the pixels of an RGB pixbuf */
static gboolean
texture_equals (GdkTexture *t, GdkPixbuf *pb)
{
  int w = gdk_pixbuf_get_width (pb), h = gdk_pixbuf_get_height (pb);
  const guint8 *p = gdk_pixbuf_read_pixels (pb);
  int rs = gdk_pixbuf_get_rowstride (pb), n = gdk_pixbuf_get_n_channels (pb);
  g_autofree guint8 *buf = NULL;

  if (!t || gdk_texture_get_width (t) != w || gdk_texture_get_height (t) != h)
    return FALSE;
  buf = g_malloc ((gsize) w * h * 4);
  /* GDK_MEMORY_DEFAULT: B8G8R8A8 premultiplied on little-endian, opaque here */
  gdk_texture_download (t, buf, (gsize) w * 4);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        const guint8 *a = buf + ((gsize) y * w + x) * 4, *b = p + y * rs + x * n;
        if (a[2] != b[0] || a[1] != b[1] || a[0] != b[2])
          return FALSE;
      }
  return TRUE;
}

static StudioWindow *
new_window (void)
{
  StudioWindow *win = studio_window_new (app);

  gtk_window_present (GTK_WINDOW (win));
  studio_window_load_model (win, model_path);
  spin_until_bool (G_ACTION_GROUP (win), "model-loaded", TRUE);
  return win;
}

/* closes the window without the unsaved-work question */
static void
destroy_window (StudioWindow *win)
{
  gtk_window_destroy (GTK_WINDOW (win));
  spin (50);
}

static void
run_job (StudioWindow *win, const char *action, int candidates)
{
  GActionGroup *g = G_ACTION_GROUP (win);

  g_action_group_change_action_state (g, "steps", g_variant_new_int32 (3));
  g_action_group_change_action_state (g, "candidates-per-run", g_variant_new_int32 (candidates));
  g_action_group_activate_action (g, action, NULL);
  spin_until_bool (g, "busy", FALSE);
  g_assert_nonnull (win->pending);
}

static GtkWidget *
find_widget (GtkWidget *root, gboolean (*match) (GtkWidget *, gconstpointer), gconstpointer data)
{
  if (match (root, data))
    return root;
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found = find_widget (c, match, data);
      if (found)
        return found;
    }
  return NULL;
}

static gboolean
is_button_labelled (GtkWidget *w, gconstpointer label)
{
  return GTK_IS_BUTTON (w) && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (w)), label) == 0;
}

/* ---- XTEST: real key and pointer events ---------------------------------- */

static struct {
  Display *dpy;
  int (*key) (Display *, unsigned int, Bool, unsigned long);
  int (*button) (Display *, unsigned int, Bool, unsigned long);
  int (*motion) (Display *, int, int, int, unsigned long);
} xt;

static gboolean
xtest_init (void)
{
  GdkDisplay *display = gdk_display_get_default ();
  void *lib;
  Bool (*query) (Display *, int *, int *, int *, int *);
  int a, b, c, d;

  if (!GDK_IS_X11_DISPLAY (display) || !(lib = dlopen ("libXtst.so.6", RTLD_NOW)))
    return FALSE;
  query = dlsym (lib, "XTestQueryExtension");
  xt.key = dlsym (lib, "XTestFakeKeyEvent");
  xt.button = dlsym (lib, "XTestFakeButtonEvent");
  xt.motion = dlsym (lib, "XTestFakeMotionEvent");
  xt.dpy = gdk_x11_display_get_xdisplay (display);
  return query && xt.key && xt.button && xt.motion && query (xt.dpy, &a, &b, &c, &d);
}

static void
xtest_key (guint keyval, gboolean ctrl)
{
  KeyCode control = XKeysymToKeycode (xt.dpy, XK_Control_L);
  KeyCode code = XKeysymToKeycode (xt.dpy, keyval);

  g_assert_cmpuint (code, !=, 0);
  if (ctrl)
    xt.key (xt.dpy, control, True, CurrentTime);
  xt.key (xt.dpy, code, True, CurrentTime);
  xt.key (xt.dpy, code, False, CurrentTime);
  if (ctrl)
    xt.key (xt.dpy, control, False, CurrentTime);
  XFlush (xt.dpy);
  spin (150);
}

/* the root-window position of a widget's centre */
static void
widget_centre_on_screen (GtkWidget *widget, int *rx, int *ry)
{
  GtkNative *native = gtk_widget_get_native (widget);
  GdkSurface *surface = gtk_native_get_surface (native);
  graphene_point_t in =
    GRAPHENE_POINT_INIT (gtk_widget_get_width (widget) / 2.f, gtk_widget_get_height (widget) / 2.f);
  graphene_point_t out;
  double sx, sy;
  Window child;

  g_assert_true (gtk_widget_compute_point (widget, GTK_WIDGET (native), &in, &out));
  gtk_native_get_surface_transform (native, &sx, &sy);
  XTranslateCoordinates (xt.dpy, gdk_x11_surface_get_xid (surface), DefaultRootWindow (xt.dpy),
                         (int) (out.x + sx), (int) (out.y + sy), rx, ry, &child);
}

/* puts the pointer over the widget and gives its window the keyboard */
static void
xtest_point_at (GtkWidget *widget)
{
  int x, y;

  widget_centre_on_screen (widget, &x, &y);
  xt.motion (xt.dpy, -1, x, y, CurrentTime);
  XSetInputFocus (xt.dpy,
                  gdk_x11_surface_get_xid (gtk_native_get_surface (gtk_widget_get_native (widget))),
                  RevertToParent, CurrentTime);
  XFlush (xt.dpy);
  spin (200);
}

static void
wait_mapped (StudioWindow *win)
{
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (!gtk_widget_get_mapped (GTK_WIDGET (win)) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  spin (300); /* the first frame: widget sizes */
}

/* ---- preferences --------------------------------------------------------- */

static double
template_adjustment (GtkWidget *prefs, const char *name)
{
  GObject *adj = gtk_widget_get_template_child (prefs, STUDIO_TYPE_PREFERENCES, name);

  g_assert_true (GTK_IS_ADJUSTMENT (adj));
  return gtk_adjustment_get_value (GTK_ADJUSTMENT (adj));
}

static void
set_template_adjustment (GtkWidget *prefs, const char *name, double value)
{
  GObject *adj = gtk_widget_get_template_child (prefs, STUDIO_TYPE_PREFERENCES, name);

  g_assert_true (GTK_IS_ADJUSTMENT (adj));
  gtk_adjustment_set_value (GTK_ADJUSTMENT (adj), value);
}

static void
test_preferences (void)
{
  GSettings *settings = studio_application_get_settings (app);
  StudioWindow *win;
  GActionGroup *g;
  GtkWidget *prefs;
  g_autoptr (GVariant) steps = NULL;
  g_autoptr (GVariant) feather = NULL;
  g_autofree char *image = write_png ("prefs.png", 48, 40, 0);
  GObject *model_row;

  if (!settings)
    {
      g_test_skip ("the org.magvlt.Studio schema is not installed (GSETTINGS_SCHEMA_DIR)");
      return;
    }
  win = new_window ();
  g = G_ACTION_GROUP (win);

  /* key → window: the controls and the action states follow */
  g_settings_set_int (settings, "steps", 7);
  g_assert_cmpfloat (gtk_adjustment_get_value (win->steps_adjustment), ==, 7);
  steps = g_action_group_get_action_state (g, "steps");
  g_assert_cmpint (g_variant_get_int32 (steps), ==, 7);
  g_settings_set_int (settings, "feather", 21);
  feather = g_action_group_get_action_state (g, "feather");
  g_assert_cmpfloat (g_variant_get_double (feather), ==, 21);
  g_settings_set_double (settings, "brush-size", 40);
  g_assert_cmpfloat (studio_canvas_get_brush_size (win->canvas), ==, 40);
  g_settings_set_double (settings, "overlay-opacity", 0.25);
  g_assert_cmpfloat (gtk_adjustment_get_value (win->opacity_adjustment), ==, 0.25);

  /* window → key: the window remembers what was set in it */
  g_action_group_change_action_state (g, "steps", g_variant_new_int32 (12));
  g_assert_cmpint (g_settings_get_int (settings, "steps"), ==, 12);
  g_action_group_activate_action (g, "brush-grow", NULL);
  g_assert_cmpfloat (g_settings_get_double (settings, "brush-size"), ==, 40 * 1.25 + 1);

  /* the preferences window shows the keys and writes them */
  prefs = studio_preferences_new (GTK_WINDOW (win), settings);
  gtk_window_present (GTK_WINDOW (prefs));
  g_assert_cmpfloat (template_adjustment (prefs, "steps_adjustment"), ==, 12);
  g_assert_cmpfloat (template_adjustment (prefs, "feather_adjustment"), ==, 21);
  set_template_adjustment (prefs, "temperature_adjustment", 0.9);
  g_assert_cmpfloat_with_epsilon (g_settings_get_double (settings, "temperature-scale"), 0.9, 1e-9);
  set_template_adjustment (prefs, "guidance_adjustment", 2.5);
  g_assert_cmpfloat_with_epsilon (g_settings_get_double (settings, "guidance-scale"), 2.5, 1e-9);
  set_template_adjustment (prefs, "threads_adjustment", 2);
  g_assert_cmpint (g_settings_get_int (settings, "threads"), ==, 2);
  set_template_adjustment (prefs, "padding_adjustment", 48);
  g_assert_cmpint (g_settings_get_int (settings, "padding"), ==, 48);
  set_template_adjustment (prefs, "preview_adjustment", 3);
  g_assert_cmpint (g_settings_get_int (settings, "preview-decode-interval"), ==, 3);
  set_template_adjustment (prefs, "steps_adjustment", 3);
  g_assert_cmpint (g_settings_get_int (settings, "steps"), ==, 3);
  g_assert_cmpfloat (gtk_adjustment_get_value (win->steps_adjustment), ==, 3);
  set_template_adjustment (prefs, "feather_adjustment", 5);
  g_assert_cmpfloat (gtk_adjustment_get_value (win->feather_adjustment), ==, 5);

  /* the model row shows the key's path */
  model_row = gtk_widget_get_template_child (prefs, STUDIO_TYPE_PREFERENCES, "model_row");
  g_settings_set_string (settings, "default-model-path", "/models/x.gguf");
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (model_row)), ==, "/models/x.gguf");
  g_settings_reset (settings, "default-model-path");

  /* and what it sets changes what a run does: two candidates per run */
  set_template_adjustment (prefs, "candidates_adjustment", 2);
  g_assert_cmpint (g_settings_get_int (settings, "candidates"), ==, 2);
  g_assert_cmpfloat (gtk_adjustment_get_value (win->candidates_adjustment), ==, 2);
  gtk_window_destroy (GTK_WINDOW (prefs));
  g_action_group_activate_action (g, "open", g_variant_new_string (image));
  g_action_group_activate_action (g, "generate", NULL);
  spin_until_bool (g, "busy", FALSE);
  g_assert_nonnull (win->pending);
  g_assert_cmpuint (win->pending->candidates->len, ==, 2);

  destroy_window (win);
  g_settings_reset (settings, "steps");
  g_settings_reset (settings, "candidates");
  g_settings_reset (settings, "feather");
  g_settings_reset (settings, "brush-size");
  g_settings_reset (settings, "overlay-opacity");
  g_settings_reset (settings, "temperature-scale");
  g_settings_reset (settings, "guidance-scale");
  g_settings_reset (settings, "threads");
  g_settings_reset (settings, "padding");
  g_settings_reset (settings, "preview-decode-interval");
}

/* ---- clipboard ------------------------------------------------------------ */

static void
on_texture_read (GObject *source, GAsyncResult *res, gpointer data)
{
  GdkTexture **out = data;
  g_autoptr (GError) error = NULL;

  *out = gdk_clipboard_read_texture_finish (GDK_CLIPBOARD (source), res, &error);
  g_assert_no_error (error);
}

static GdkTexture *
read_clipboard_texture (GdkClipboard *clipboard)
{
  GdkTexture *t = NULL;
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  gdk_clipboard_read_texture_async (clipboard, NULL, on_texture_read, &t);
  while (!t && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  return t;
}

static void
on_text_read (GObject *source, GAsyncResult *res, gpointer data)
{
  char **out = data;
  g_autoptr (GError) error = NULL;

  *out = gdk_clipboard_read_text_finish (GDK_CLIPBOARD (source), res, &error);
  g_assert_no_error (error);
  if (!*out)
    *out = g_strdup ("");
}

static char *
read_clipboard_text (GdkClipboard *clipboard)
{
  char *text = NULL;
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  gdk_clipboard_read_text_async (clipboard, NULL, on_text_read, &text);
  while (!text && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  return text;
}

static void
test_clipboard (void)
{
  StudioWindow *win;
  GActionGroup *g;
  GdkClipboard *clipboard;
  g_autofree char *image = write_png ("copy.png", 40, 32, 17);
  g_autoptr (GdkTexture) copied = NULL;
  g_autoptr (GdkTexture) candidate = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GVariant) tool = NULL;
  GtkTextBuffer *buffer;
  GtkTextIter a, b;
  GdkPixbuf *shown;

  if (!xtest_init ())
    {
      g_test_skip ("no X11 display with the XTEST extension (run under xvfb-run)");
      return;
    }
  win = new_window ();
  g = G_ACTION_GROUP (win);
  clipboard = gtk_widget_get_clipboard (GTK_WIDGET (win));
  g_action_group_activate_action (g, "open", g_variant_new_string (image));
  wait_mapped (win);

  /* Ctrl+C over the canvas: the image */
  gdk_clipboard_set_text (clipboard, "not an image");
  gtk_widget_grab_focus (GTK_WIDGET (win->canvas));
  xtest_point_at (GTK_WIDGET (win->canvas));
  xtest_key (XK_c, TRUE);
  copied = read_clipboard_texture (clipboard);
  g_assert_nonnull (copied);
  g_assert_true (texture_equals (copied, win->image));

  /* with a result waiting, the candidate on show */
  run_job (win, "generate", 2);
  g_action_group_activate_action (g, "next-candidate", NULL);
  shown = g_array_index (win->pending->candidates, StudioCandidate, 1).image;
  g_assert_false (texture_equals (copied, shown));
  gtk_widget_grab_focus (GTK_WIDGET (win->canvas));
  xtest_key (XK_c, TRUE);
  candidate = read_clipboard_texture (clipboard);
  g_assert_true (texture_equals (candidate, shown));

  /* in the caption box the keys are the text's: typing "e" types it (no
   * eraser), and Ctrl+C copies the selected words, not the image */
  gtk_widget_grab_focus (GTK_WIDGET (win->caption_view));
  studio_window_set_caption (win, "a red apple");
  buffer = gtk_text_view_get_buffer (win->caption_view);
  gtk_text_buffer_get_end_iter (buffer, &a);
  gtk_text_buffer_place_cursor (buffer, &a);
  xtest_key (XK_e, FALSE);
  g_free (text);
  text = studio_window_get_caption (win);
  g_assert_cmpstr (text, ==, "a red applee");
  tool = g_action_group_get_action_state (g, "tool");
  g_assert_cmpstr (g_variant_get_string (tool, NULL), ==, "brush");
  gtk_text_buffer_get_iter_at_offset (buffer, &a, 2);
  gtk_text_buffer_get_iter_at_offset (buffer, &b, 5);
  gtk_text_buffer_select_range (buffer, &a, &b);
  xtest_key (XK_c, TRUE);
  g_free (text);
  text = read_clipboard_text (clipboard);
  g_assert_cmpstr (text, ==, "red");

  /* a click on the canvas takes the keyboard back: "e" is the eraser */
  g_assert_true (gtk_widget_has_focus (GTK_WIDGET (win->caption_view)));
  xtest_point_at (GTK_WIDGET (win->canvas));
  xt.button (xt.dpy, 1, True, CurrentTime);
  xt.button (xt.dpy, 1, False, CurrentTime);
  XFlush (xt.dpy);
  spin (150);
  g_assert_true (gtk_widget_has_focus (GTK_WIDGET (win->canvas)));
  xtest_key (XK_e, FALSE);
  g_clear_pointer (&tool, g_variant_unref);
  tool = g_action_group_get_action_state (g, "tool");
  g_assert_cmpstr (g_variant_get_string (tool, NULL), ==, "eraser");

  destroy_window (win);
}

/* ---- drag and drop -------------------------------------------------------- */

static GtkDropTarget *
find_drop_target (GtkWidget *widget)
{
  g_autoptr (GListModel) controllers = gtk_widget_observe_controllers (widget);

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr (GObject) c = g_list_model_get_item (controllers, i);
      if (GTK_IS_DROP_TARGET (c))
        return GTK_DROP_TARGET (c);
    }
  return NULL;
}

static gboolean
emit_drop (GtkDropTarget *target, const GValue *value)
{
  gboolean accepted = FALSE;

  g_signal_emit_by_name (target, "drop", value, 10.0, 10.0, &accepted);
  return accepted;
}

static void
test_drop (void)
{
  StudioWindow *win = new_window ();
  GtkDropTarget *target = find_drop_target (GTK_WIDGET (win));
  g_autofree char *first = write_png ("drop-1.png", 30, 20, 3);
  g_autofree char *second = write_png ("drop-2.png", 26, 34, 9);
  g_autofree char *text = g_build_filename (tmpdir, "notes.txt", NULL);
  g_autoptr (GFile) f1 = g_file_new_for_path (first);
  g_autoptr (GFile) f2 = g_file_new_for_path (second);
  g_autoptr (GFile) ftext = g_file_new_for_path (text);
  GdkDragAction action = 0;
  GValue value = G_VALUE_INIT;
  const GType *types;
  gsize n_types;
  gboolean has_list = FALSE, has_file = FALSE;

  g_assert_nonnull (target);
  types = gtk_drop_target_get_gtypes (target, &n_types);
  for (gsize i = 0; i < n_types; i++)
    {
      has_list |= types[i] == GDK_TYPE_FILE_LIST;
      has_file |= types[i] == G_TYPE_FILE;
    }
  g_assert_true (has_list && has_file);
  g_assert_null (win->image);

  /* the overlay shows while something is dragged over the window */
  g_assert_false (gtk_revealer_get_reveal_child (win->drop_revealer));
  g_signal_emit_by_name (target, "enter", 5.0, 5.0, &action);
  g_assert_true (action & GDK_ACTION_COPY);
  g_assert_true (gtk_revealer_get_reveal_child (win->drop_revealer));
  g_signal_emit_by_name (target, "leave");
  g_assert_false (gtk_revealer_get_reveal_child (win->drop_revealer));

  /* a file list (what file managers send): its first file opens */
  g_signal_emit_by_name (target, "enter", 5.0, 5.0, &action);
  g_value_init (&value, GDK_TYPE_FILE_LIST);
  g_value_take_boxed (&value, gdk_file_list_new_from_array ((GFile *[]){ f1, f2 }, 2));
  g_assert_true (emit_drop (target, &value));
  g_value_unset (&value);
  g_assert_false (gtk_revealer_get_reveal_child (win->drop_revealer));
  g_assert_nonnull (win->image);
  g_assert_cmpint (gdk_pixbuf_get_width (win->image), ==, 30);
  g_assert_cmpstr (win->image_path, ==, first);
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (win), "inpaint"));
  g_assert_nonnull (strstr (last_error (win), "first of the 2 dropped files"));

  /* a single GFile */
  g_value_init (&value, G_TYPE_FILE);
  g_value_set_object (&value, f2);
  g_assert_true (emit_drop (target, &value));
  g_value_unset (&value);
  g_assert_cmpint (gdk_pixbuf_get_width (win->image), ==, 26);
  g_assert_cmpstr (win->image_path, ==, second);

  /* an image with transparent parts: opened over white, and said so */
  {
    g_autoptr (GdkPixbuf) cut = gdk_pixbuf_new (GDK_COLORSPACE_RGB, TRUE, 8, 8, 8);
    g_autofree char *path = g_build_filename (tmpdir, "cut-out.png", NULL);

    gdk_pixbuf_fill (cut, 0xff000000); /* red, fully transparent */
    g_assert_true (gdk_pixbuf_save (cut, path, "png", NULL, NULL));
    g_action_group_activate_action (G_ACTION_GROUP (win), "open", g_variant_new_string (path));
    g_assert_nonnull (strstr (last_error (win), "transparent parts"));
    g_assert_cmpint (gdk_pixbuf_read_pixels (win->image)[0], ==, 255);
    g_assert_cmpint (gdk_pixbuf_read_pixels (win->image)[1], ==, 255); /* white, not red */
    g_action_group_activate_action (G_ACTION_GROUP (win), "open", g_variant_new_string (second));
  }

  /* something that is not an image: refused, the image stays */
  g_assert_true (g_file_set_contents (text, "hello", -1, NULL));
  g_value_init (&value, G_TYPE_FILE);
  g_value_set_object (&value, ftext);
  g_assert_false (emit_drop (target, &value));
  g_value_unset (&value);
  g_assert_cmpstr (win->image_path, ==, second);

  destroy_window (win);
}

/* ---- unsaved-work confirmation ---------------------------------------------- */

static AdwMessageDialog *
find_dialog (StudioWindow *win)
{
  GListModel *toplevels = gtk_window_get_toplevels (); /* not ours to unref */

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr (GObject) w = g_list_model_get_item (toplevels, i);
      if (ADW_IS_MESSAGE_DIALOG (w)
          && gtk_window_get_transient_for (GTK_WINDOW (w)) == GTK_WINDOW (win))
        return ADW_MESSAGE_DIALOG (w);
    }
  return NULL;
}

/* answers the dialog as a click on one of its buttons would */
static void
answer (AdwMessageDialog *dialog, const char *response)
{
  GtkWidget *w = GTK_WIDGET (dialog);

  g_object_add_weak_pointer (G_OBJECT (dialog), (gpointer *) &w);
  adw_message_dialog_response (dialog, response);
  if (w)
    gtk_window_destroy (GTK_WINDOW (w));
  spin (50);
}

static void
test_close (void)
{
  StudioWindow *win = new_window ();
  GActionGroup *g = G_ACTION_GROUP (win);
  g_autofree char *image = write_png ("close.png", 40, 32, 5);
  AdwMessageDialog *dialog;
  GdkPixbuf *accepted;
  gpointer alive = win;

  g_object_add_weak_pointer (G_OBJECT (win), &alive);

  /* nothing to lose: no question */
  g_assert_null (find_dialog (win));
  g_action_group_activate_action (g, "open", g_variant_new_string (image));

  /* an unaccepted candidate: asks; Cancel keeps window and candidates */
  run_job (win, "generate", 2);
  g_assert_false (state_bool (g, "dirty"));
  gtk_window_close (GTK_WINDOW (win));
  spin (50);
  g_assert_nonnull (alive);
  dialog = find_dialog (win);
  g_assert_nonnull (dialog);
  g_assert_cmpstr (adw_message_dialog_get_default_response (dialog), ==, "cancel");
  answer (dialog, "cancel");
  g_assert_nonnull (alive);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (win)));
  g_assert_nonnull (win->pending);
  g_assert_cmpuint (win->pending->candidates->len, ==, 2);
  g_assert_null (find_dialog (win));

  /* unsaved changes (an accepted result): asks; Cancel keeps the result */
  g_action_group_activate_action (g, "accept-result", NULL);
  accepted = win->image;
  g_assert_null (win->pending);
  g_assert_true (state_bool (g, "dirty"));
  gtk_window_close (GTK_WINDOW (win));
  spin (50);
  dialog = find_dialog (win);
  g_assert_nonnull (dialog);
  answer (dialog, "cancel");
  g_assert_nonnull (alive);
  g_assert_true (win->image == accepted);
  g_assert_true (state_bool (g, "dirty"));
  g_assert_true (g_action_group_get_action_enabled (g, "undo"));

  /* Discard closes */
  gtk_window_close (GTK_WINDOW (win));
  spin (50);
  dialog = find_dialog (win);
  g_assert_nonnull (dialog);
  answer (dialog, "discard");
  spin (100);
  g_assert_null (alive);

  /* saved work closes without asking */
  win = new_window ();
  alive = win;
  g_object_add_weak_pointer (G_OBJECT (win), &alive);
  g_action_group_activate_action (G_ACTION_GROUP (win), "open", g_variant_new_string (image));
  gtk_window_close (GTK_WINDOW (win));
  spin (100);
  g_assert_null (alive);
}

/* ---- replacing the image ------------------------------------------------------ */

static gboolean
pixbuf_equals (GdkPixbuf *a, GdkPixbuf *b)
{
  g_autoptr (GdkTexture) t = gdk_texture_new_for_pixbuf (a);

  return texture_equals (t, b);
}

static void
paste_and_wait (StudioWindow *win)
{
  g_action_group_activate_action (G_ACTION_GROUP (win), "paste-image", NULL);
  spin (300); /* the clipboard is read asynchronously */
}

static void
test_replace (void)
{
  StudioWindow *win = new_window ();
  GActionGroup *g = G_ACTION_GROUP (win);
  g_autofree char *first = write_png ("replace-1.png", 40, 32, 21);
  g_autofree char *second = write_png ("replace-2.png", 36, 30, 23);
  g_autoptr (GdkPixbuf) pasted = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, 24, 20);
  g_autoptr (GdkTexture) pasted_texture = NULL;
  AdwMessageDialog *dialog;
  GdkPixbuf *before;

  /* a waiting result: opening another image asks; Cancel keeps everything */
  g_action_group_activate_action (g, "open", g_variant_new_string (first));
  run_job (win, "generate", 2);
  g_action_group_activate_action (g, "open", g_variant_new_string (second));
  spin (50);
  dialog = find_dialog (win);
  g_assert_nonnull (dialog);
  g_assert_cmpstr (adw_message_dialog_get_default_response (dialog), ==, "cancel");
  answer (dialog, "cancel");
  g_assert_cmpstr (win->image_path, ==, first);
  g_assert_nonnull (win->pending);
  g_assert_cmpuint (win->pending->candidates->len, ==, 2);

  /* a file that cannot be opened asks nothing and changes nothing */
  g_action_group_activate_action (g, "open", g_variant_new_string ("/nonexistent/x.png"));
  spin (50);
  g_assert_null (find_dialog (win));
  g_assert_nonnull (win->pending);

  /* Caption with the results waiting: they stay (it writes only the caption),
   * and the words it replaced come back with Undo in the caption box */
  studio_window_set_caption (win, "my own words");
  g_action_group_activate_action (g, "next-candidate", NULL);
  g_action_group_activate_action (g, "caption", NULL);
  spin_until_bool (g, "busy", FALSE);
  g_assert_nonnull (win->pending);
  g_assert_cmpuint (win->pending->candidates->len, ==, 2);
  g_assert_cmpuint (win->candidate_index, ==, 1);
  {
    GtkTextBuffer *buffer = gtk_text_view_get_buffer (win->caption_view);
    g_autofree char *written = studio_window_get_caption (win);
    g_autofree char *restored = NULL;

    g_assert_cmpstr (written, !=, "my own words");
    g_assert_true (gtk_text_buffer_get_can_undo (buffer));
    gtk_text_buffer_undo (buffer);
    restored = studio_window_get_caption (win);
    g_assert_cmpstr (restored, ==, "my own words");
  }

  /* Discard opens the other image as a new document */
  g_action_group_activate_action (g, "open", g_variant_new_string (second));
  spin (50);
  answer (find_dialog (win), "discard");
  g_assert_cmpstr (win->image_path, ==, second);
  g_assert_null (win->pending);
  g_assert_false (state_bool (g, "dirty"));
  g_assert_false (g_action_group_get_action_enabled (g, "undo"));

  /* unsaved changes: pasting asks too; Cancel keeps the accepted result */
  run_job (win, "generate", 1);
  g_action_group_activate_action (g, "accept-result", NULL);
  before = win->image;
  g_assert_true (state_bool (g, "dirty"));
  gdk_pixbuf_fill (pasted, 0x3366ccff);
  pasted_texture = gdk_texture_new_for_pixbuf (pasted);
  gdk_clipboard_set_texture (gtk_widget_get_clipboard (GTK_WIDGET (win)), pasted_texture);
  paste_and_wait (win);
  dialog = find_dialog (win);
  g_assert_nonnull (dialog);
  answer (dialog, "cancel");
  g_assert_true (win->image == before);
  g_assert_true (g_action_group_get_action_enabled (g, "undo"));

  /* Discard: the pasted image, unsaved and with no history */
  paste_and_wait (win);
  answer (find_dialog (win), "discard");
  g_assert_true (pixbuf_equals (pasted, win->image));
  g_assert_null (win->image_path);
  g_assert_true (state_bool (g, "dirty"));
  g_assert_false (g_action_group_get_action_enabled (g, "undo"));

  /* a clipboard image over the limits Open applies: refused, nothing replaced */
  {
    g_autoptr (GBytes) wide_px = g_bytes_new_take (g_malloc0 (16385 * 4), 16385 * 4);
    g_autoptr (GdkTexture) wide =
      gdk_memory_texture_new (16385, 1, GDK_MEMORY_R8G8B8A8, wide_px, 16385 * 4);
    GdkPixbuf *kept = win->image;

    gdk_clipboard_set_texture (gtk_widget_get_clipboard (GTK_WIDGET (win)), wide);
    paste_and_wait (win);
    g_assert_null (find_dialog (win));
    g_assert_true (win->image == kept);
    g_assert_nonnull (
      strstr (last_error (win), "The clipboard image is too large (16385 × 1 pixels"));
  }

  /* transparency is flattened over white, as for an opened file */
  {
    const guint8 rgba[8] = { 255, 0, 0, 128, 0, 0, 255, 0 };
    g_autoptr (GBytes) bytes = g_bytes_new (rgba, sizeof rgba);
    g_autoptr (GdkTexture) seethrough =
      gdk_memory_texture_new (2, 1, GDK_MEMORY_R8G8B8A8, bytes, 8);
    const guint8 *px;

    gdk_clipboard_set_texture (gtk_widget_get_clipboard (GTK_WIDGET (win)), seethrough);
    paste_and_wait (win);
    answer (find_dialog (win), "discard"); /* the pasted image before is unsaved */
    g_assert_cmpint (gdk_pixbuf_get_width (win->image), ==, 2);
    px = gdk_pixbuf_read_pixels (win->image);
    g_assert_cmpint (px[0], ==, 255);
    g_assert_cmpint (abs (px[1] - 127), <=, 1);
    g_assert_cmpint (abs (px[2] - 127), <=, 1);
    g_assert_cmpint (px[3], ==, 255);
    g_assert_cmpint (px[4], ==, 255);
    g_assert_cmpint (px[5], ==, 255);
  }

  /* while a job runs, neither open nor paste is possible */
  g_action_group_change_action_state (g, "steps", g_variant_new_int32 (200));
  g_action_group_activate_action (g, "generate", NULL);
  g_assert_true (state_bool (g, "busy"));
  g_assert_false (g_action_group_get_action_enabled (g, "paste-image"));
  g_assert_false (g_action_group_get_action_enabled (g, "open"));
  g_action_group_activate_action (g, "cancel", NULL);
  spin_until_bool (g, "busy", FALSE);
  g_assert_true (g_action_group_get_action_enabled (g, "paste-image"));

  destroy_window (win);
}

/* ---- painting while a result is on show ------------------------------------------ */

static void
test_paint_hidden_mask (void)
{
  StudioWindow *win;
  g_autofree char *image = write_png ("paint.png", 64, 64, 29);
  GActionGroup *g;
  int x, y;

  if (!xtest_init ())
    {
      g_test_skip ("no X11 display with the XTEST extension (run under xvfb-run)");
      return;
    }
  win = new_window ();
  g = G_ACTION_GROUP (win);
  g_action_group_activate_action (g, "open", g_variant_new_string (image));
  wait_mapped (win);
  run_job (win, "generate", 1);
  g_assert_true (studio_mask_is_empty (win->mask));

  /* a drag over the canvas with the candidate on show: the hidden mask stays */
  widget_centre_on_screen (GTK_WIDGET (win->canvas), &x, &y);
  xt.motion (xt.dpy, -1, x, y, CurrentTime);
  xt.button (xt.dpy, 1, True, CurrentTime);
  xt.motion (xt.dpy, -1, x + 20, y + 10, CurrentTime);
  xt.button (xt.dpy, 1, False, CurrentTime);
  XFlush (xt.dpy);
  spin (200);
  g_assert_true (studio_mask_is_empty (win->mask));
  g_assert_false (g_action_group_get_action_enabled (g, "undo"));

  /* after Discard the same drag paints, one undo step */
  g_action_group_activate_action (g, "discard-result", NULL);
  xt.motion (xt.dpy, -1, x, y, CurrentTime);
  xt.button (xt.dpy, 1, True, CurrentTime);
  xt.motion (xt.dpy, -1, x + 20, y + 10, CurrentTime);
  xt.button (xt.dpy, 1, False, CurrentTime);
  XFlush (xt.dpy);
  spin (200);
  g_assert_false (studio_mask_is_empty (win->mask));
  g_assert_true (g_action_group_get_action_enabled (g, "undo"));

  destroy_window (win);
}

/* ---- choosing a model file ---------------------------------------------------------- */

static void
test_use_model (void)
{
  GSettings *settings = studio_application_get_settings (app);
  StudioWindow *win;
  GActionGroup *g;
  g_autofree char *broken = g_build_filename (tmpdir, "broken.gguf", NULL);
  g_autoptr (GVariant) name = NULL;
  AdwMessageDialog *dialog = NULL;
  gint64 end;

  if (!settings)
    {
      g_test_skip ("the org.magvlt.Studio schema is not installed (GSETTINGS_SCHEMA_DIR)");
      return;
    }
  g_settings_reset (settings, "default-model-path");
  win = new_window ();
  g = G_ACTION_GROUP (win);
  name = g_action_group_get_action_state (g, "model-name");
  g_assert_cmpstr (gtk_label_get_text (win->model_label), ==, g_variant_get_string (name, NULL));

  /* a file that is no model: the dialog says so, the model in use stays in
   * use and named, and nothing is remembered */
  g_assert_true (g_file_set_contents (broken, "not a model", -1, NULL));
  g_action_group_activate_action (g, "use-model", g_variant_new_string (broken));
  end = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  while (!(dialog = find_dialog (win)) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (dialog);
  answer (dialog, "close");
  g_assert_true (state_bool (g, "model-loaded"));
  g_assert_cmpstr (gtk_label_get_text (win->model_label), ==, g_variant_get_string (name, NULL));
  g_assert_true (g_action_group_get_action_enabled (g, "generate"));
  {
    g_autofree char *key = g_settings_get_string (settings, "default-model-path");
    g_assert_cmpstr (key, ==, "");
  }

  /* a model file that loads: it is the default of later sessions */
  g_action_group_activate_action (g, "use-model", g_variant_new_string (model_path));
  end = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < end)
    {
      g_autofree char *key = g_settings_get_string (settings, "default-model-path");
      if (g_str_equal (key, model_path))
        break;
      g_main_context_iteration (NULL, TRUE);
    }
  {
    g_autofree char *key = g_settings_get_string (settings, "default-model-path");
    g_assert_cmpstr (key, ==, model_path);
  }
  g_settings_reset (settings, "default-model-path");
  destroy_window (win);
}

/* ---- save names ------------------------------------------------------------------ */

static void
test_save_names (void)
{
  StudioWindow *win = new_window ();
  GActionGroup *g = G_ACTION_GROUP (win);
  g_autofree char *image = write_png ("names.png", 20, 16, 31);
  g_autofree char *jpg = g_build_filename (tmpdir, "photo.jpg", NULL);
  g_autofree char *bare = g_build_filename (tmpdir, "bare", NULL);
  g_autofree char *bare_png = g_build_filename (tmpdir, "bare.png", NULL);
  g_autofree char *mask_bare = g_build_filename (tmpdir, "bare-mask", NULL);
  g_autofree char *mask_png = g_build_filename (tmpdir, "bare-mask.png", NULL);
  g_autofree char *upper = g_build_filename (tmpdir, "UPPER.PNG", NULL);

  g_action_group_activate_action (g, "open", g_variant_new_string (image));

  /* another format's name: refused, nothing written */
  g_action_group_activate_action (g, "save-as", g_variant_new_string (jpg));
  g_assert_false (g_file_test (jpg, G_FILE_TEST_EXISTS));
  g_assert_nonnull (strstr (last_error (win), "not a PNG file name"));
  g_assert_cmpstr (win->image_path, ==, image);

  /* no extension: .png added */
  g_action_group_activate_action (g, "save-as", g_variant_new_string (bare));
  g_assert_true (g_file_test (bare_png, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (bare, G_FILE_TEST_EXISTS));
  g_assert_cmpstr (win->image_path, ==, bare_png);

  /* ... but not over a file nobody asked to replace */
  g_action_group_activate_action (g, "save-as", g_variant_new_string (bare));
  g_assert_nonnull (strstr (last_error (win), "already exists"));

  /* any case of .png is a PNG name; masks follow the same rule */
  g_action_group_activate_action (g, "save-as", g_variant_new_string (upper));
  g_assert_true (g_file_test (upper, G_FILE_TEST_EXISTS));
  g_action_group_activate_action (g, "save-mask", g_variant_new_string (mask_bare));
  g_assert_true (g_file_test (mask_png, G_FILE_TEST_EXISTS));
  g_action_group_activate_action (g, "save-mask", g_variant_new_string (jpg));
  g_assert_false (g_file_test (jpg, G_FILE_TEST_EXISTS));

  destroy_window (win);
}

/* ---- zoom ---------------------------------------------------------------------------- */

static void
test_zoom (void)
{
  StudioWindow *win = new_window ();
  GActionGroup *g = G_ACTION_GROUP (win);
  g_autofree char *image = write_png ("zoom.png", 50, 40, 37);
  g_auto (GStrv) in = gtk_application_get_accels_for_action (GTK_APPLICATION (app), "win.zoom-in");
  g_auto (GStrv) fit =
    gtk_application_get_accels_for_action (GTK_APPLICATION (app), "win.zoom-fit");
  double fit_scale;

  g_assert_false (g_action_group_get_action_enabled (g, "zoom-in"));
  g_assert_true (in[0] && g_str_equal (in[0], "<Control>plus"));
  g_assert_true (fit[0] && g_str_equal (fit[0], "<Control>0"));
  g_action_group_activate_action (g, "open", g_variant_new_string (image));
  wait_mapped (win);
  fit_scale = studio_canvas_get_scale (win->canvas);
  g_assert_cmpfloat (fit_scale, >, 0);
  g_action_group_activate_action (g, "zoom-in", NULL);
  g_assert_cmpfloat_with_epsilon (studio_canvas_get_scale (win->canvas), fit_scale * 1.25, 1e-9);
  g_action_group_activate_action (g, "zoom-in", NULL);
  g_action_group_activate_action (g, "zoom-out", NULL);
  g_assert_cmpfloat_with_epsilon (studio_canvas_get_scale (win->canvas), fit_scale * 1.25, 1e-9);
  g_action_group_activate_action (g, "zoom-fit", NULL);
  g_assert_cmpfloat_with_epsilon (studio_canvas_get_scale (win->canvas), fit_scale, 1e-9);

  /* a result of another size is shown whole, whatever the zoom was */
  g_action_group_activate_action (g, "zoom-in", NULL);
  run_job (win, "generate", 1);
  g_action_group_activate_action (g, "accept-result", NULL);
  spin (100);
  {
    GdkTexture *t = studio_canvas_get_image (win->canvas);
    int w = gtk_widget_get_width (GTK_WIDGET (win->canvas));
    int h = gtk_widget_get_height (GTK_WIDGET (win->canvas));
    double want =
      MIN ((double) w / gdk_texture_get_width (t), (double) h / gdk_texture_get_height (t));

    g_assert_cmpint (gdk_texture_get_width (t), !=, 50);
    g_assert_cmpfloat_with_epsilon (studio_canvas_get_scale (win->canvas), want, 1e-9);
  }
  destroy_window (win);
}

/* ---- captions the model cannot read whole ---------------------------------------------- */

static void
test_caption_notices (void)
{
  StudioWindow *win = new_window ();
  GActionGroup *g = G_ACTION_GROUP (win);
  const struct {
    const char *caption, *notice;
  } cases[] = {
    /* the test model reads 16 text slots */
    { "a red apple and a green pear and a yellow banana on a blue plate with a fork and a knife",
      "longer than the model reads" },
    { "日本語のキャプション", "could read no words" },
    { "   ", "caption is empty" },
    { "a red apple", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      studio_window_set_caption (win, cases[i].caption);
      studio_window_set_observer (win, "last-error", g_variant_new_string (""));
      run_job (win, "generate", 1);
      if (cases[i].notice)
        g_assert_nonnull (strstr (last_error (win), cases[i].notice));
      else
        g_assert_cmpstr (last_error (win), ==, "");
      g_action_group_activate_action (g, "discard-result", NULL);
    }
  destroy_window (win);
}

/* ---- the undo history's memory --------------------------------------------------------- */

static void
test_undo_budget (void)
{
  StudioWindow *win = new_window ();
  GActionGroup *g = G_ACTION_GROUP (win);
  g_autofree char *image = write_png ("big.png", 4096, 2048, 41);
  gsize step = 4096 * 2048, image_bytes;
  guint most;

  g_action_group_activate_action (g, "open", g_variant_new_string (image));
  image_bytes = gdk_pixbuf_get_byte_length (win->image);
  /* each step copies the 8 MB mask: 80 of them would be 640 MB */
  for (int i = 0; i < 80; i++)
    g_action_group_activate_action (g, "invert-mask", NULL);
  most = (guint) ((STUDIO_UNDO_BUDGET - image_bytes) / step);
  g_assert_cmpuint (win->undo->len, <=, most);
  g_assert_cmpuint (win->undo->len, >=, most - 1);
  /* the newest steps are the ones kept: 80 inverts leave the mask empty, and
   * undo goes back to the 79th (all painted) */
  g_assert_true (studio_mask_is_empty (win->mask));
  g_action_group_activate_action (g, "undo", NULL);
  g_assert_false (studio_mask_is_empty (win->mask));
  destroy_window (win);
}

/* ---- hold to compare -------------------------------------------------------- */

static void
test_compare (void)
{
  StudioWindow *win;
  g_autofree char *image = write_png ("compare.png", 48, 40, 11);
  GtkWidget *button;
  GdkPixbuf *candidate;
  int x, y;

  if (!xtest_init ())
    {
      g_test_skip ("no X11 display with the XTEST extension (run under xvfb-run)");
      return;
    }
  win = new_window ();
  g_action_group_activate_action (G_ACTION_GROUP (win), "open", g_variant_new_string (image));
  run_job (win, "generate", 1);
  wait_mapped (win);
  candidate = g_array_index (win->pending->candidates, StudioCandidate, 0).image;
  g_assert_true (texture_equals (studio_canvas_get_image (win->canvas), candidate));
  g_assert_false (texture_equals (studio_canvas_get_image (win->canvas), win->image));

  button = find_widget (GTK_WIDGET (win), is_button_labelled, "Hold to Co_mpare");
  g_assert_nonnull (button);
  g_assert_true (gtk_widget_get_mapped (button));
  widget_centre_on_screen (button, &x, &y);
  xt.motion (xt.dpy, -1, x, y, CurrentTime);
  XFlush (xt.dpy);
  spin (100);

  /* held: the image as it was, for as long as the button is down */
  xt.button (xt.dpy, 1, True, CurrentTime);
  XFlush (xt.dpy);
  spin (600);
  g_assert_true (texture_equals (studio_canvas_get_image (win->canvas), win->image));

  /* released: the candidate again */
  xt.button (xt.dpy, 1, False, CurrentTime);
  XFlush (xt.dpy);
  spin (200);
  g_assert_true (texture_equals (studio_canvas_get_image (win->canvas), candidate));
  g_assert_nonnull (win->pending);

  /* from the keyboard: holding backslash over the canvas */
  xtest_point_at (GTK_WIDGET (win->canvas));
  gtk_widget_grab_focus (GTK_WIDGET (win->canvas));
  {
    KeyCode code = XKeysymToKeycode (xt.dpy, XK_backslash);

    xt.key (xt.dpy, code, True, CurrentTime);
    XFlush (xt.dpy);
    spin (300);
    g_assert_true (texture_equals (studio_canvas_get_image (win->canvas), win->image));
    xt.key (xt.dpy, code, False, CurrentTime);
    XFlush (xt.dpy);
    spin (200);
    g_assert_true (texture_equals (studio_canvas_get_image (win->canvas), candidate));
  }

  destroy_window (win);
}

static void
on_activate (GApplication *application, gpointer data)
{
}

int
main (int argc, char *argv[])
{
  int status;

  gtk_test_init (&argc, &argv, NULL);
  adw_init ();
  if (argc < 2)
    {
      g_printerr ("usage: test-workflow MODEL.gguf\n");
      return 2;
    }
  model_path = argv[1];
  tmpdir = g_dir_make_tmp ("test-workflow-XXXXXX", NULL);
  app = studio_application_new ();
  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_signal_connect (app, "activate", G_CALLBACK (on_activate), NULL);
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, NULL));

  g_test_add_func ("/workflow/preferences", test_preferences);
  g_test_add_func ("/workflow/clipboard", test_clipboard);
  g_test_add_func ("/workflow/drop", test_drop);
  g_test_add_func ("/workflow/close", test_close);
  g_test_add_func ("/workflow/compare", test_compare);
  g_test_add_func ("/workflow/replace", test_replace);
  g_test_add_func ("/workflow/paint-hidden-mask", test_paint_hidden_mask);
  g_test_add_func ("/workflow/use-model", test_use_model);
  g_test_add_func ("/workflow/save-names", test_save_names);
  g_test_add_func ("/workflow/zoom", test_zoom);
  g_test_add_func ("/workflow/caption-notices", test_caption_notices);
  g_test_add_func ("/workflow/undo-budget", test_undo_budget);
  status = g_test_run ();

  g_clear_object (&app);
  {
    g_autoptr (GDir) dir = g_dir_open (tmpdir, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name (dir)))
      {
        g_autofree char *path = g_build_filename (tmpdir, name, NULL);
        g_unlink (path);
      }
    g_rmdir (tmpdir);
  }
  g_free (tmpdir);
  return status;
}
