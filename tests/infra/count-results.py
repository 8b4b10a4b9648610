#!/usr/bin/python3
"""Count test results from meson's logs for CI (style C15).

usage: count-results.py BUILD_DIR...

Reads BUILD_DIR/meson-logs/testlog.json of every build and counts
  - TAP tests (cmocka with CMOCKA_MESSAGE_OUTPUT=TAP): one per `ok` /
    `not ok` line (`# SKIP` lines are skipped, `# TODO` failures too);
  - pytest runs: the numbers of its closing line ("3 passed, 1 skipped");
  - any other test: one, by meson's verdict.
A test meson failed (crash, timeout, bad exit) whose output shows no failure
counts one more failure. Prints a line per build, then the closing line
`N passed, N failed[, N skipped]` alone. Exits 1 if anything failed or
nothing passed, 0 otherwise.
"""
import json
import os
import re
import sys

TAP = re.compile(r"^(not ok|ok)\b(.*)$")
PYTEST = re.compile(r"^=*\s*((?:\d+ [a-z]+(?:, )?)+) in [0-9.]+s\b")
PYTEST_ITEM = re.compile(r"(\d+) ([a-z]+)")
BAD = {"FAIL", "ERROR", "TIMEOUT", "UNEXPECTEDPASS", "INTERRUPT"}


def count_test(entry):
    """(passed, failed, skipped) of one testlog.json entry."""
    out = (entry.get("stdout") or "") + "\n" + (entry.get("stderr") or "")
    result = entry.get("result", "ERROR")
    p = f = s = 0
    kind = "exitcode"
    pytest_line = None
    for line in out.splitlines():
        m = TAP.match(line)
        if m:
            kind = "tap"
            directive = m.group(2).upper()
            if "# SKIP" in directive or "#SKIP" in directive:
                s += 1
            elif m.group(1) == "ok":
                p += 1
            elif "# TODO" in directive:
                s += 1
            else:
                f += 1
        m = PYTEST.match(line.strip())
        if m:
            pytest_line = m.group(1)
    if pytest_line is not None and kind != "tap":
        kind = "pytest"
        p = f = s = 0
        for n, what in PYTEST_ITEM.findall(pytest_line):
            n = int(n)
            if what in ("passed", "xfailed", "xpassed"):
                p += n
            elif what in ("failed", "error", "errors"):
                f += n
            elif what == "skipped":
                s += n
    if kind == "exitcode":
        if result == "SKIP":
            s = 1
        elif result in BAD:
            f = 1
        else:
            p = 1
    elif result in BAD and f == 0:
        f = 1  # crashed or timed out after reporting only successes
    elif result == "SKIP" and p + f + s == 0:
        s = 1
    return p, f, s, kind


def main(dirs):
    if not dirs:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    total = [0, 0, 0]
    for d in dirs:
        log = os.path.join(d, "meson-logs", "testlog.json")
        build = [0, 0, 0]
        ntests = 0
        failed_names = []
        try:
            with open(log, encoding="utf-8") as fh:
                lines = [l for l in fh if l.strip()]
        except OSError as e:
            print(f"{d}: no test log ({e.strerror}): counted as one failure")
            total[1] += 1
            continue
        for line in lines:
            entry = json.loads(line)
            p, f, s, _ = count_test(entry)
            ntests += 1
            build[0] += p
            build[1] += f
            build[2] += s
            if f:
                failed_names.append(entry.get("name", "?"))
        for i in range(3):
            total[i] += build[i]
        print(f"{d}: {ntests} tests; subtests {build[0]} ok / {build[1]} failing / "
              f"{build[2]} skipped" + (f"; failing: {', '.join(failed_names)}" if failed_names else ""))
    passed, failed, skipped = total
    closing = f"{passed} passed, {failed} failed"
    if skipped:
        closing += f", {skipped} skipped"
    print(closing)
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
