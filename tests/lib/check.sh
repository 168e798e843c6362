# check.sh — sourced by the shell test scripts: a temporary folder $tmp
# (removed on exit), the counters and `check`. The script ends with `summary`.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# Runs COMMAND; passes when it exits with EXPECTED_RC and, unless PATTERN is
# empty, its output (stdout and stderr) matches PATTERN.
check () {  # check NAME EXPECTED_RC PATTERN -- COMMAND...
  name=$1 want_rc=$2 pattern=$3
  shift 4
  "$@" >"$tmp/out" 2>&1
  rc=$?
  if [ "$rc" -eq "$want_rc" ] && { [ -z "$pattern" ] || grep -q -- "$pattern" "$tmp/out"; }; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name (exit $rc, wanted $want_rc and /$pattern/):"
    sed 's/^/     /' "$tmp/out"
    failed=$((failed + 1))
  fi
}

# Prints the counts and gives the script's exit status.
summary () {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
