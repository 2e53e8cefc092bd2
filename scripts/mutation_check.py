"""Mutation check: every deliberate break in ``tests/mutations`` must turn a test red.

Usage::

    python scripts/mutation_check.py            # all breaks
    python scripts/mutation_check.py --area solver --list

For each break it runs ``python -m pytest <the break's tests>`` with
``SK_GEODESIC_MUTATION=<area>:<name>`` and counts the break as *killed* when pytest
fails. It first runs the same tests unbroken, once, so a test that fails anyway cannot
pass for a kill. Exits 1 if any break survives.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run_pytest(tests, mutation=None, jobs=1):
    env = dict(os.environ)
    env.pop("SK_GEODESIC_MUTATION", None)
    if mutation:
        env["SK_GEODESIC_MUTATION"] = mutation
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "", *tests]
    if jobs > 1:
        cmd[3:3] = ["-n", str(jobs)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    return proc.returncode, time.perf_counter() - t0, proc.stdout[-2000:] + proc.stderr[-2000:]


def main(argv=None):
    from tests.mutations import all_breaks

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--area", action="append", help="only breaks of this area (repeatable)")
    ap.add_argument("--name", action="append", help="only the break area:name (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the breaks and exit")
    ap.add_argument("-n", "--jobs", type=int, default=1, help="pytest-xdist workers per run")
    args = ap.parse_args(argv)
    breaks = all_breaks()
    if args.area:
        breaks = {k: v for k, v in breaks.items() if k.split(":")[0] in args.area}
    if args.name:
        breaks = {k: v for k, v in breaks.items() if k in args.name}
    if args.list:
        for key, br in breaks.items():
            print(f"{key}: {br.description}\n    tests: {' '.join(br.tests)}")
        return 0
    if not breaks:
        print("no breaks selected")
        return 1
    all_tests = sorted({t for br in breaks.values() for t in br.tests})
    rc, secs, out = run_pytest(all_tests, jobs=args.jobs)
    if rc != 0:
        print(out)
        print(f"the unbroken package fails the selected tests (rc={rc}); fix that first")
        return 1
    print(f"baseline: {len(all_tests)} tests pass unbroken ({secs:.0f} s)")
    survived = []
    t_start = time.perf_counter()
    for key, br in breaks.items():
        if not br.tests:
            survived.append(key)
            print(f"SURVIVED {key}: names no test")
            continue
        rc, secs, out = run_pytest(br.tests, mutation=key, jobs=args.jobs)
        # rc 1: tests failed; 2/3/4: the break made collection or the session error out.
        killed = rc != 0 and rc != 5
        print(f"{'killed  ' if killed else 'SURVIVED'} {key} ({secs:.0f} s): {br.description}")
        if not killed:
            survived.append(key)
    print(f"{len(breaks) - len(survived)}/{len(breaks)} breaks killed in {time.perf_counter() - t_start:.0f} s")
    if survived:
        print("survived: " + ", ".join(survived))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
