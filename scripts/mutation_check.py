"""Mutation check: every deliberate break in ``tests/mutations`` must turn a test red.

Usage::

    python scripts/mutation_check.py               # all breaks, two at a time
    python scripts/mutation_check.py --area solver --list
    python scripts/mutation_check.py --name realism:index_inverted --parallel 1

For each break it runs ``python -m pytest <the break's tests>`` with
``SK_GEODESIC_MUTATION=<area>:<name>`` and counts the break as *killed* when pytest
fails. Before that it checks that every selected break still applies (a break whose
patched name has gone from the package is *stale* and fails the check instead of
passing for a kill), and runs all the named tests unbroken, once, so a test that fails
anyway cannot pass for a kill. Exits 1 if any break survives or is stale.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
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
    return proc.returncode, time.perf_counter() - t0, proc.stdout[-3000:] + proc.stderr[-2000:]


def _forked_pytest(args):
    """Run pytest in a process forked from this one (torch and sklearn already imported)."""
    tests, mutation = args
    import tempfile

    import pytest

    os.environ.pop("SK_GEODESIC_MUTATION", None)
    if mutation:
        os.environ["SK_GEODESIC_MUTATION"] = mutation
    os.chdir(ROOT)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as log:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            rc = int(pytest.main(["-q", "-x", "-p", "no:cacheprovider", "-m", "", *tests]))
        except BaseException as exc:  # noqa: BLE001 - a break may crash the session itself
            print(f"pytest crashed: {type(exc).__name__}: {exc}")
            rc = 3
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
        log.seek(0)
        out = log.read()
    return rc, time.perf_counter() - t0, out[-5000:]


def first_failure(output):
    """The first ``FAILED``/``ERROR`` test id in pytest's short summary, if any."""
    m = re.search(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.M)
    return m.group(1) if m else None


def stale_breaks(breaks):
    """Breaks whose ``apply`` raises (the patched name moved or vanished), with the error.

    The breaks are tried in a forked child where possible: a module first imported while
    a patch is active keeps the patched object after ``undo()``, and the forked test runs
    must start from an untouched parent.
    """
    if hasattr(os, "fork"):
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(1) as pool:
            return pool.apply(_stale_breaks_here, (list(breaks),))
    return _stale_breaks_here(list(breaks))


def _stale_breaks_here(keys):
    import pytest

    from tests.mutations import all_breaks

    breaks = {k: v for k, v in all_breaks().items() if k in keys}
    out = {}
    for key, br in breaks.items():
        mp = pytest.MonkeyPatch()
        try:
            br.apply(mp)
        except Exception as exc:  # noqa: BLE001 - report any failure to apply
            out[key] = f"{type(exc).__name__}: {exc}"
        finally:
            mp.undo()
    return out


def run_forked(jobs, parallel, timeout=600):
    """Yield :func:`_forked_pytest` results of ``jobs`` in order, ``parallel`` at a time,
    each in a fresh process forked from this one. A job that gives no result within
    ``timeout`` seconds (a hang, or a worker that died) yields rc 124."""
    import multiprocessing

    import sklearn.utils.estimator_checks  # noqa: F401 - imported once, inherited by every fork
    import torch

    # (tests.conftest must NOT be imported here: each fork imports it to apply its break)

    torch.set_num_threads(1)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(processes=max(1, parallel), maxtasksperchild=1) as pool:
        results = pool.imap(_forked_pytest, jobs)
        for _ in jobs:
            try:
                yield results.next(timeout=timeout)
            except multiprocessing.TimeoutError:
                yield 124, float(timeout), f"no result within {timeout} s (hang or crash)"


def report(key, br, result, survived):
    rc, secs, out = result
    # rc 1: tests failed; 2/3/4: the break made collection or the session error out.
    killed = rc != 0 and rc != 5
    by = first_failure(out) if killed else None
    if rc == 124:
        by = out  # timed out: a hang is red in CI too, but say so
    print(f"{'killed  ' if killed else 'SURVIVED'} {key} ({secs:.0f} s): {br.description}"
          + (f"\n    by {by}" if by else ""), flush=True)
    if not killed:
        survived.append(key)


def main(argv=None):
    from tests.mutations import all_breaks

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--area", action="append", help="only breaks of this area (repeatable)")
    ap.add_argument("--name", action="append", help="only the break area:name (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the breaks and exit")
    ap.add_argument("-n", "--jobs", type=int, default=1, help="pytest-xdist workers per run")
    ap.add_argument("-p", "--parallel", type=int, default=2, help="breaks run at the same time (default 2)")
    ap.add_argument(
        "--spawn", action="store_true",
        help="start a fresh interpreter per break (default on POSIX: fork this one, which has torch "
        "and scikit-learn imported already, saving seconds per break)",
    )
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
    t_total = time.perf_counter()
    stale = stale_breaks(breaks)
    for key, err in stale.items():
        print(f"STALE    {key}: cannot be applied ({err})")
    all_tests = sorted({t for br in breaks.values() for t in br.tests})
    use_fork = hasattr(os, "fork") and not args.spawn and args.jobs == 1
    t0 = time.perf_counter()
    if use_fork:
        # the unbroken run, split over the forked workers
        groups = [g for g in (all_tests[i :: max(1, args.parallel)] for i in range(max(1, args.parallel))) if g]
        base = run_forked([(g, None) for g in groups], args.parallel)
    else:
        base = [run_pytest(all_tests, jobs=max(args.jobs, args.parallel))]
    for rc, _, out in base:
        if rc != 0:
            print(out)
            print(f"the unbroken package fails the selected tests (rc={rc}); fix that first")
            return 1
    print(f"baseline: {len(all_tests)} test ids pass unbroken ({time.perf_counter() - t0:.0f} s)")
    survived = []
    todo = {k: br for k, br in breaks.items() if k not in stale}
    for key, br in todo.items():
        if not br.tests:
            survived.append(key)
            print(f"SURVIVED {key}: names no test")
    todo = {k: br for k, br in todo.items() if br.tests}

    t_start = time.perf_counter()
    if use_fork:
        results = run_forked([(br.tests, key) for key, br in todo.items()], args.parallel)
        for (key, br), res in zip(todo.items(), results):
            report(key, br, res, survived)
    else:
        def one(item):
            key, br = item
            return key, br, run_pytest(br.tests, mutation=key, jobs=args.jobs)

        with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
            for key, br, res in pool.map(one, todo.items()):
                report(key, br, res, survived)
    n_ok = len(breaks) - len(survived) - len(stale)
    print(f"{n_ok}/{len(breaks)} breaks killed in {time.perf_counter() - t_start:.0f} s "
          f"({time.perf_counter() - t_total:.0f} s with the baseline)")
    if survived:
        print("survived: " + ", ".join(survived))
    if stale:
        print("stale (fix or remove): " + ", ".join(stale))
    return 1 if survived or stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
