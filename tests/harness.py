"""What the Python integration tests share (tests/live, tests/dpdk,
tests/deploy/test_status.py, tests/db/test_db_outage.py): the failure and
skip exceptions, `expect`, `run`, and the runner of named tests that ctest
calls with one name each.

Exit codes follow ctest's SKIP_RETURN_CODE convention: 0 passed, 1 failed,
2 unknown test name, 77 skipped. Under CI=true a missing prerequisite is a
failure, never a skip (tests must not silently skip in CI).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

CI = os.environ.get("CI") == "true"


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def expect(cond: bool, what: str, detail: str = "") -> None:
    if not cond:
        raise Failure(what + ("\n" + detail if detail else ""))
    print("  ok    " + what, flush=True)


def run(cmd: list[str], check: bool = True, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise Failure("command failed (%d): %s\n%s%s" % (p.returncode, " ".join(cmd), p.stdout[-2000:],
                                                         p.stderr[-2000:]))
    return p


def run_named_tests(tests: dict[str, Callable[[Path], None]], argv: list[str], prefix: str,
                    prerequisites: Callable[[list[str]], None] | None = None,
                    keep_env: str | None = None) -> int:
    """Runs the named tests (all without names), each in a fresh work
    directory under /tmp that is removed when it passes and kept (and named)
    when it fails, or always when the environment variable `keep_env` is set.
    `prerequisites(names)` raises Skip or Failure before any test runs."""
    names = argv or list(tests)
    unknown = [n for n in names if n not in tests]
    if unknown:
        print("unknown test(s) %s (known: %s)" % (", ".join(unknown), ", ".join(tests)), file=sys.stderr)
        return 2
    try:
        if prerequisites:
            prerequisites(names)
    except Skip as e:
        if CI:
            print("FAIL: prerequisite missing under CI=true: %s" % e, file=sys.stderr)
            return 1
        print("SKIP: %s" % e)
        return 77
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        return 1
    failed = skipped = 0
    for n in names:
        work = Path(tempfile.mkdtemp(prefix="%s-%s-" % (prefix, n)))
        print("== %s" % n, flush=True)
        t0 = time.monotonic()
        try:
            tests[n](work)
            print("   %s passed in %.1f s" % (n, time.monotonic() - t0), flush=True)
        except Skip as e:
            if CI:
                print("FAIL %s: prerequisite missing under CI=true: %s" % (n, e), file=sys.stderr)
                failed += 1
            else:
                print("SKIP %s: %s" % (n, e))
                skipped += 1
            continue
        except (Failure, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
            print("FAIL %s: %s: %s\n   (work files kept in %s)" % (n, type(e).__name__, e, work), file=sys.stderr,
                  flush=True)
            failed += 1
            continue
        if not (keep_env and os.environ.get(keep_env)):
            shutil.rmtree(work, ignore_errors=True)
    if failed:
        return 1
    return 77 if skipped == len(names) else 0
