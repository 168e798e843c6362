#!/bin/sh
# Every translation in po/ is complete: each message of the sources (xgettext
# over po/POTFILES.in) has a translation (msgcmp), and msgfmt -c is clean.
src=$1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$src" || exit 1
grep -v '^#' po/POTFILES.in > "$tmp/files"
xgettext --files-from="$tmp/files" --from-code=UTF-8 --keyword=_ --keyword=N_ --keyword=C_:1c,2 \
  --add-comments=TRANSLATORS --its=/usr/share/gettext/its/glib2.its -o "$tmp/all.pot" 2>/dev/null ||
  xgettext --files-from="$tmp/files" --from-code=UTF-8 --keyword=_ --keyword=N_ -o "$tmp/all.pot"
status=0
for po in po/*.po; do
  if msgfmt -c -o /dev/null "$po" && msgcmp "$po" "$tmp/all.pot"; then
    echo "ok   $po: complete ($(grep -c '^msgid ' "$tmp/all.pot") messages)"
  else
    echo "FAIL $po is incomplete or invalid"
    status=1
  fi
done
exit $status
