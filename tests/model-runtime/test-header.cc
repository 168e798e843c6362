// test-header.cc — magvlt.h compiles as C++ and links from C++.
#include "magvlt.h"

#include <cstdio>
#include <cstring>

int
main ()
{
  magvlt_context_params cp = magvlt_context_default_params ();
  const char *s = magvlt_status_str (MAGVLT_ABORTED);
  bool ok = cp.n_threads == 0 && std::strcmp (s, "cancelled") == 0;
  std::printf ("%s C++ include\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
