/* test-header.c — magvlt.h compiles as C11 on its own and its basic calls
 * behave on bad arguments without a model. */
#include "magvlt.h"

#include <stdio.h>
#include <string.h>

int
main (void)
{
  int failed = 0;
  magvlt_model *m = (magvlt_model *) 1;
  if (magvlt_model_load (NULL, NULL, &m) != MAGVLT_ERR_INVALID_ARG || m != NULL)
    failed++, printf ("FAIL NULL path\n");
  if (strlen (magvlt_last_error ()) == 0)
    failed++, printf ("FAIL no message for a NULL path\n");
  if (strcmp (magvlt_status_str (MAGVLT_ERR_FORMAT), "file format error") != 0)
    failed++, printf ("FAIL status string\n");
  magvlt_model_params mp = magvlt_model_default_params ();
  if (!mp.use_mmap)
    failed++, printf ("FAIL mmap default\n");
  printf ("%d passed, %d failed\n", 4 - failed, failed);
  return failed != 0;
}
