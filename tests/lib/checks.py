"""The Python test scripts' checks: `check(name, ok, detail)` prints "ok   NAME" or
"FAIL NAME: DETAIL" and counts; `finish()` prints "N passed, N failed" and exits 1 on any failure
(the shell scripts' counterpart is check.sh beside this file).

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    from checks import check, finish
"""
import sys

passed = failed = 0


def check(name: str, ok, detail: str = "") -> bool:
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}{': ' + str(detail) if detail else ''}", flush=True)
    return bool(ok)


def finish() -> None:
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)
