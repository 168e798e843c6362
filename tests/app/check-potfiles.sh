#!/bin/sh
# Every source file with translatable strings is listed in po/POTFILES.in,
# and every listed file exists.
cd "$1" || exit 1
status=0
for f in $(grep -l -E '_\(|N_\(|translatable="yes"' src/*.c ui/*.ui ui/gtk/*.ui 2>/dev/null); do
  grep -qx "$f" po/POTFILES.in || { echo "FAIL $f has translatable strings but is not in po/POTFILES.in"; status=1; }
done
for f in $(grep -v '^#' po/POTFILES.in); do
  [ -f "$f" ] || { echo "FAIL po/POTFILES.in lists $f, which does not exist"; status=1; }
done
[ $status -eq 0 ] && echo "ok   po/POTFILES.in is complete"
exit $status
