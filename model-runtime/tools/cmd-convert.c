/* cmd-convert.c — `magvlt convert`: official checkpoints → a model file.
 * SPDX-License-Identifier: MIT */
#include "magvlt-cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  gboolean bar; /* a progress bar on a terminal */
  gboolean quiet;
  int last_pct;
  magvlt_convert_stage last_stage;
  gboolean line_open; /* the bar is on the current line */
} convert_ui;

static volatile sig_atomic_t interrupted;

static void
on_sigint (int sig)
{
  (void) sig;
  interrupted = 1;
}

static void
clear_line (convert_ui *ui)
{
  if (ui->line_open)
    {
      fprintf (stderr, "\r%*s\r", 72, "");
      ui->line_open = FALSE;
    }
}

static void
on_log (magvlt_log_level level, const char *message, void *user_data)
{
  convert_ui *ui = user_data;
  if (level < MAGVLT_LOG_INFO || (ui->quiet && level < MAGVLT_LOG_WARN))
    return;
  clear_line (ui);
  fprintf (stderr, "magvlt convert: %s%s\n", level >= MAGVLT_LOG_WARN ? "warning: " : "", message);
}

static void
on_progress (magvlt_convert_stage stage, float fraction, void *user_data)
{
  convert_ui *ui = user_data;
  static const char *names[] = { "reading", "writing", "palette" };
  int pct = (int) (fraction * 100.0f + 0.5f);
  if (!ui->bar || (stage == ui->last_stage && pct == ui->last_pct))
    return;
  ui->last_stage = stage;
  ui->last_pct = pct;
  char bar[41];
  int filled = pct * 40 / 100;
  for (int i = 0; i < 40; i++)
    bar[i] = i < filled ? '#' : '.';
  bar[40] = '\0';
  fprintf (stderr, "\r%-8s [%s] %3d%%", names[stage <= MAGVLT_CONVERT_PALETTE ? stage : 0], bar,
           pct);
  fflush (stderr);
  ui->line_open = TRUE;
}

static bool
on_cancel (void *user_data)
{
  (void) user_data;
  return interrupted != 0;
}

int
cli_convert (int argc, char **argv)
{
  g_autofree char *ckpt = NULL, *vqgan = NULL, *config = NULL, *bpe = NULL, *out = NULL;
  g_autofree char *type = NULL, *preset = NULL, *name = NULL;
  gboolean no_palette = FALSE, quiet = FALSE;
  int threads = 0;
  const GOptionEntry entries[] = {
    { "ckpt", 0, 0, G_OPTION_ARG_FILENAME, &ckpt,
      "MAGVLT checkpoint (magvlt-it2it-base.ckpt, or safetensors)", "CKPT" },
    { "vqgan", 0, 0, G_OPTION_ARG_FILENAME, &vqgan,
      "taming VQGAN checkpoint; replaces the MAGVLT file's copy (alone: a VQGAN-only model)",
      "CKPT" },
    { "config", 0, 0, G_OPTION_ARG_FILENAME, &config,
      "official YAML (magvlt-it2it-base-sampling.yaml)", "YAML" },
    { "preset", 0, 0, G_OPTION_ARG_STRING, &preset,
      "without --config: the official geometry and sampling defaults (base or large; "
      "recognised from the shapes when omitted)",
      "base|large" },
    { "bpe", 0, 0, G_OPTION_ARG_FILENAME, &bpe,
      "CLIP's merges (bpe_simple_vocab_16e6.txt.gz or a merges text); without it the model has "
      "no tokenizer",
      "MERGES" },
    { "type", 0, 0, G_OPTION_ARG_STRING, &type,
      "weight type: f16 (default), bf16 (matrices 16-bit; norms, biases, codebook f32) or f32",
      "f16|bf16|f32" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "model name (default: the checkpoint's name)",
      "NAME" },
    { "no-palette", 0, 0, G_OPTION_ARG_NONE, &no_palette,
      "skip the preview palette (saves about a minute at the official size)", NULL },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "threads for the palette (default: cores)",
      "N" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "the model file to write", "OUT.gguf" },
    /* the other commands spell it --out: both work everywhere */
    { "out", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &out, NULL, NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "only warnings and errors", NULL },
    { NULL },
  };
  if (!cli_parse ("convert",
                  "Convert official MAGVLT / taming checkpoints into a MAGVLT model file (GGUF).",
                  "Examples:\n"
                  "  magvlt convert --ckpt magvlt-it2it-base.ckpt \\\n"
                  "      --vqgan vqgan_imagenet_f16_16384.ckpt \\\n"
                  "      --config magvlt-it2it-base-sampling.yaml \\\n"
                  "      --bpe bpe_simple_vocab_16e6.txt.gz -o magvlt-base.gguf\n"
                  "  magvlt convert --vqgan vqgan_imagenet_f16_16384.ckpt -o vqgan.gguf\n\n"
                  "Checkpoints are read without running anything they contain.",
                  entries, &argc, &argv))
    return CLI_EXIT_USAGE;
  if (argc > 1)
    {
      fprintf (stderr, "magvlt convert: unexpected argument '%s'\n", argv[1]);
      return CLI_EXIT_USAGE;
    }
  if (!out || (!ckpt && !vqgan))
    {
      fprintf (stderr, "magvlt convert: give --ckpt and/or --vqgan, and -o OUT.gguf\n"
                       "Run `magvlt convert --help` for usage.\n");
      return CLI_EXIT_USAGE;
    }
  magvlt_convert_params p = magvlt_convert_default_params ();
  if (type)
    {
      if (strcmp (type, "f16") == 0)
        p.weight_type = MAGVLT_WEIGHTS_F16;
      else if (strcmp (type, "f32") == 0)
        p.weight_type = MAGVLT_WEIGHTS_F32;
      else if (strcmp (type, "bf16") == 0)
        p.weight_type = MAGVLT_WEIGHTS_BF16;
      else
        {
          fprintf (stderr, "magvlt convert: --type is f16, bf16 or f32, not '%s'\n", type);
          return CLI_EXIT_USAGE;
        }
    }
  if (preset && strcmp (preset, "base") != 0 && strcmp (preset, "large") != 0)
    {
      fprintf (stderr, "magvlt convert: --preset is base or large, not '%s'\n", preset);
      return CLI_EXIT_USAGE;
    }
  if (preset && config)
    {
      fprintf (stderr, "magvlt convert: give --config or --preset, not both\n");
      return CLI_EXIT_USAGE;
    }
  if (bpe && !ckpt)
    {
      fprintf (stderr, "magvlt convert: --bpe needs --ckpt (a VQGAN-only model has no text)\n");
      return CLI_EXIT_USAGE;
    }
  if (threads < 0)
    {
      fprintf (stderr, "magvlt convert: --threads must be >= 0\n");
      return CLI_EXIT_USAGE;
    }

  convert_ui ui = { .bar = isatty (STDERR_FILENO) && !quiet, .quiet = quiet, .last_pct = -1 };
  p.ckpt = ckpt;
  p.vqgan = vqgan;
  p.config = config;
  p.preset = preset;
  p.bpe = bpe;
  p.name = name;
  p.palette = !no_palette;
  p.n_threads = threads;
  p.progress = on_progress;
  p.cancel = on_cancel;
  p.user_data = &ui;
  p.log_callback = on_log;
  p.log_user_data = &ui;

  struct sigaction sa = { .sa_handler = on_sigint }, old;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, &old);
  magvlt_convert_stats stats;
  magvlt_status st = magvlt_convert (&p, out, &stats);
  sigaction (SIGINT, &old, NULL);
  clear_line (&ui);
  if (st != MAGVLT_OK)
    {
      fprintf (stderr, "magvlt convert: %s: %s\n", magvlt_status_str (st), magvlt_last_error ());
      return CLI_EXIT_FAILED;
    }
  if (!quiet)
    printf ("wrote %s: %d tensors, %lld parameters, %.1f MiB in %.1f s%s\n", out, stats.n_tensors,
            (long long) stats.n_params, (double) stats.file_size / (1 << 20), stats.seconds,
            stats.n_warnings ? " (see the warnings above)" : "");
  return CLI_EXIT_OK;
}
