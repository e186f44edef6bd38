"""Keras conformance run: Keras's own tests, inside policy scopes, against the same run without.

Runs the test modules shipped in the installed Keras wheel (keras/src/**/*_test.py) with pytest
once without a scope (`plain`) and once inside the scope of each policy in POLICIES, each in
its own process, side by side (--jobs). A policy run must give every test exactly the outcome
of the plain run (passed, failed, skipped, ...), but for the differences by design listed for
it; otherwise this prints the tests that differ, with the error, and exits 1. See
docs/conformance.md.

    python tools/keras_conformance/run.py                      # CI subset, $KERAS_BACKEND
    python tools/keras_conformance/run.py --backend jax --full # every test module of the wheel
    python tools/keras_conformance/run.py --policy wait -k Dense

Known Keras-side failures (known_failures.txt beside this file) are printed at every run: a
`fails` entry still runs in every run (it must fail in all of them alike), a `hangs` entry is
deselected in every run, a `flaky` one too (its outcome varies from run to run: inputs the test
does not seed, near its threshold), a `differs POLICY` entry must pass plainly and fail in that
policy's run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: The policies whose runs must match the plain run.
POLICIES = {
    # decides (almost) nothing, but every Conv2D without an activation of its own waits for its
    # graph: its kernel starts as a placeholder and is drawn when the graph completes or the
    # scope ends
    "wait": "Conv2D[activation=selu] -> lecun_normal",
    # the default mode: rules decide every kernel and bias these layers get from Keras's
    # defaults; initializers the code passes explicitly must stay as they are
    "explicit-keep": (
        "@explicit keep\n"
        "Dense, Conv1D, Conv2D, Conv3D, DepthwiseConv2D, SeparableConv2D, EinsumDense -> auto\n"
        "*.bias -> zeros"
    ),
    # the draw stage: every random weight reseeded from the policy's seed (on JAX, drawn at a
    # bucketed size) and the truncated normals `auto` picks drawn by the fast sampler
    "seeded-fast": (
        "@seed 1234\n"
        "@sampler fast\n"
        "Dense, Conv1D, Conv2D, Conv3D, DepthwiseConv2D, SeparableConv2D, EinsumDense -> auto\n"
        "*.bias -> zeros"
    ),
}

#: The CI subset (under keras/src): about 2.5 minutes a run on torch, see docs/conformance.md.
CI_SUBSET = (
    "layers/core",
    "layers/convolutional",
    "layers/attention",
    "layers/rnn",
    "layers/normalization",
    "layers/merging",
    "models",
    "saving",
    "initializers",
)

OUTCOMES_THAT_FAIL = ("failed", "error")


def keras_src() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("keras")
    if spec is None or spec.origin is None:
        raise SystemExit("keras is not installed in this Python")
    return Path(spec.origin).parent / "src"


#: Kinds of known_failures.txt entries without a policy, and those deselected in every run.
_UNSCOPED_KINDS = ("fails", "hangs", "flaky")
_DESELECTED = ("hangs", "flaky")


def read_known(path: Path = HERE / "known_failures.txt") -> list[dict]:
    """Lines `kind | backends | test id | reason`; kind is `fails`, `hangs`, `flaky` or
    `differs POLICY` (a difference the policy makes by design)."""
    entries = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split("|", 3)]
        kind, _, policy = fields[0].partition(" ")
        if (
            len(fields) != 4
            or not fields[3]
            or not ((kind in _UNSCOPED_KINDS and not policy) or (kind == "differs" and policy))
        ):
            raise SystemExit(
                f"{path}:{number}: expected "
                "`fails|hangs|flaky|differs POLICY | backends | id | reason`"
            )
        if kind == "differs" and policy not in POLICIES:
            raise SystemExit(f"{path}:{number}: no policy {policy!r} (run.py's POLICIES)")
        _, backends, nodeid, reason = fields
        entries.append(
            dict(
                kind=kind,
                policy=policy or None,
                backends=backends.split(),
                nodeid=nodeid,
                reason=reason,
                line=number,
            )
        )
    return entries


def applies(entry: dict, backend: str) -> bool:
    return "all" in entry["backends"] or backend in entry["backends"]


def outcome_of(phases: dict) -> str:
    """One outcome from pytest's setup/call/teardown reports of a test."""
    if any(o == "failed" for o in phases.values()):
        return "failed" if phases.get("call") == "failed" else "error"
    if phases.get("setup") != "passed":
        return phases.get("setup", "absent")  # skipped or xfailed before the call
    return phases.get("call", "absent")


def read_report(path: Path) -> dict:
    """Per test: its outcome, the error line of a failure, the weights a scope saw."""
    tests: dict[str, dict] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            t = tests.setdefault(r["nodeid"], {"phases": {}})
            if "when" in r:
                t["phases"][r["when"]] = r["outcome"]
                if "error" in r:
                    t.setdefault("error", r["error"])
            if "weights" in r:
                t["weights"] = r["weights"]
    for t in tests.values():
        t["outcome"] = outcome_of(t["phases"])
    # a test that started and has no teardown report: the process ended in it
    unfinished = [n for n, t in tests.items() if not {"teardown", "collect"} & set(t["phases"])]
    return {"tests": tests, "unfinished": unfinished}


def run_once(
    name: str,
    policy: str | None,
    paths: list[str],
    deselect: list[str],
    backend: str,
    workdir: Path,
    timeout: float,
    extra: list[str],
) -> dict:
    report = workdir / f"{name}.jsonl"
    report.unlink(missing_ok=True)
    log = workdir / f"{name}.log"
    env = dict(os.environ)
    env.update(
        KERAS_BACKEND=backend,
        KIP_CONFORMANCE_POLICY=policy or "",
        KIP_CONFORMANCE_REPORT=str(report),
        KIP_CONFORMANCE_TIMEOUT=str(timeout),
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    site = keras_src().parent.parent
    cmd = [sys.executable, "-m", "pytest", "-c", str(HERE / "pytest.ini"), "--rootdir", str(site)]
    # a module that does not import (an optional dependency missing) is an error in every run
    cmd += ["-p", "conftest", "-q", "-rfE", "--continue-on-collection-errors", *extra]
    cmd += [arg for nodeid in deselect for arg in ("--deselect", nodeid)]
    cmd += paths
    cwd = workdir / name  # tests that write to the working directory write here
    cwd.mkdir(exist_ok=True)
    start, cpu = time.monotonic(), 0.0
    with open(log, "w", encoding="utf-8") as out:
        # its own process group: what it leaves behind (the forked workers of a test that hung)
        # ends with it
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            # this child's own CPU time: runs may go on side by side (--jobs)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            cpu = usage.ru_utime + usage.ru_stime
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    seconds = time.monotonic() - start
    result = read_report(report) if report.exists() else {"tests": {}, "unfinished": []}
    result.update(name=name, seconds=seconds, cpu=cpu, returncode=proc.returncode, log=str(log))
    return result


def counts(tests: dict) -> str:
    by: dict[str, int] = {}
    for t in tests.values():
        by[t["outcome"]] = by.get(t["outcome"], 0) + 1
    return ", ".join(f"{n} {o}" for o, n in sorted(by.items(), key=lambda kv: -kv[1]))


def problems_of(run: dict) -> list[str]:
    """Why a run cannot be compared: it crashed, hung, or collected nothing."""
    out = []
    if run["unfinished"]:
        out.append(
            f"the process ended during {run['unfinished'][0]} (a hang past the per-test timeout, "
            f"or a crash; exit code {run['returncode']}); see {run['log']}"
        )
    elif run["returncode"] not in (0, 1):
        out.append(f"pytest exited with code {run['returncode']}; see {run['log']}")
    if not run["tests"]:
        out.append(f"no test ran; see {run['log']}")
    return out


def compare(plain: dict, other: dict, intended: frozenset = frozenset()) -> list[str]:
    """The tests whose outcomes differ; of a run that ended early, only the tests it reached.
    ``intended``: tests that must differ (passed without a scope, failed in it), and do not
    count as a difference when they do."""
    ids = set(plain["tests"]) | set(other["tests"])
    if plain["unfinished"] or other["unfinished"]:
        ids = set(plain["tests"]) & set(other["tests"])
    lines = []
    for nodeid in sorted(ids):
        a = plain["tests"].get(nodeid, {}).get("outcome", "absent")
        b = other["tests"].get(nodeid, {}).get("outcome", "absent")
        if nodeid in intended:
            if (a, b) != ("passed", "failed"):
                lines.append(
                    f"  {nodeid}: listed as a difference by design, but {a} without a scope, "
                    f"{b} in it; update known_failures.txt"
                )
        elif a != b:
            error = other["tests"].get(nodeid, {}).get("error") or plain["tests"].get(
                nodeid, {}
            ).get("error", "")
            lines.append(f"  {nodeid}: {a} without a scope, {b} in it\n      {error}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument(
        "--full", action="store_true", help="every *_test.py of the wheel, not the CI subset"
    )
    parser.add_argument(
        "--path",
        action="append",
        help="a folder or module under keras/src instead of the CI subset (repeatable)",
    )
    parser.add_argument(
        "--policy",
        action="append",
        choices=sorted(POLICIES),
        help="run only these policies (default: all)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per test")
    parser.add_argument(
        "--jobs",
        type=int,
        default=len(POLICIES) + 1,
        help="runs side by side (default: all at once; each keeps about one core busy, so on "
        "two cores the stage takes about half its CPU time)",
    )
    parser.add_argument(
        "--workdir", help="keep reports and logs here (default: a temporary folder)"
    )
    parser.add_argument("-k", help="pytest -k expression, passed to every run")
    parser.add_argument(
        "--known", default=HERE / "known_failures.txt", type=Path, help="the known-failures list"
    )
    args = parser.parse_args(argv)

    src = keras_src()
    paths = [str(src)] if args.full else [str(src / p) for p in (args.path or CI_SUBSET)]
    known = [e for e in read_known(args.known) if applies(e, args.backend)]
    deselect = [e["nodeid"] for e in known if e["kind"] in _DESELECTED]
    extra = ["-k", args.k] if args.k else []
    policies = {n: POLICIES[n] for n in (args.policy or POLICIES)}

    from importlib.metadata import version

    print(f"Keras {version('keras')} conformance run, KERAS_BACKEND={args.backend}")
    print(f"modules: {'all of keras/src' if args.full else ', '.join(args.path or CI_SUBSET)}")
    print("known Keras-side failures (reproducible without keras-initpolicy):")
    for e in known:
        if e["kind"] == "differs":
            continue
        what = "deselected in every run" if e["kind"] in _DESELECTED else "runs, fails in every run"
        print(f"  {e['nodeid']} [{e['kind']}: {what}]\n      {e['reason']}")
    by_design = [e for e in known if e["kind"] == "differs" and e["policy"] in policies]
    if by_design:
        print("differences by design (pass without a scope, must fail in the policy's):")
    for (policy, reason), group in itertools.groupby(
        by_design, lambda e: (e["policy"], e["reason"])
    ):
        print("\n".join(f"  {e['nodeid']} [{policy}]" for e in group) + f"\n      {reason}")

    with tempfile.TemporaryDirectory(prefix="kip-conformance-") as tmp:
        workdir = Path(args.workdir or tmp).resolve()
        workdir.mkdir(parents=True, exist_ok=True)

        def one(item):
            name, policy = item
            run = run_once(
                name, policy, paths, deselect, args.backend, workdir, args.timeout, extra
            )
            print(
                f"run {name}: {run['seconds']:.0f} s ({run['cpu']:.0f} s CPU), "
                f"{counts(run['tests'])}",
                flush=True,
            )
            return run

        # Each run keeps about one core busy: side by side, the stage takes its CPU time / cores.
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            runs = list(pool.map(one, [("plain", None), *policies.items()]))

        failed = False
        plain = runs[0]
        for run in runs:
            for problem in problems_of(run):
                print(f"run {run['name']}: {problem}")
                failed = True
        for e in known:
            got = plain["tests"].get(e["nodeid"], {}).get("outcome")
            if e["kind"] == "fails" and got is not None and got not in OUTCOMES_THAT_FAIL:
                print(
                    f"{args.known.name}:{e['line']}: {e['nodeid']} no longer fails "
                    f"({got}); remove it from the list"
                )
                failed = True
        listed = {e["nodeid"] for e in known if e["kind"] != "differs"}
        unlisted = sorted(
            (n, t.get("error", ""))
            for n, t in plain["tests"].items()
            if t["outcome"] in OUTCOMES_THAT_FAIL and n not in listed
        )
        if unlisted:
            # compared like every other test; listed so that they are never silent
            print(f"{len(unlisted)} tests fail without a scope too (not in {args.known.name}):")
            print("\n".join(f"  {n}\n      {error}" for n, error in unlisted))
        for run in runs[1:]:
            weights = sum(t.get("weights") or 0 for t in run["tests"].values())
            if run["tests"] and not weights:
                print(f"run {run['name']}: its scopes saw no weight: the scope did not apply")
                failed = True
            intended = frozenset(e["nodeid"] for e in by_design if e["policy"] == run["name"])
            diff = compare(plain, run, intended)
            if diff:
                failed = True
                print(f"run {run['name']} differs from the plain run in {len(diff)} tests:")
                print("\n".join(diff))
            else:
                print(
                    f"run {run['name']}: every test as in the plain run "
                    f"({weights} weights built in its scopes)"
                )
        if failed and not args.workdir:
            keep = Path(tempfile.mkdtemp(prefix="kip-conformance-logs-"))
            for log in workdir.glob("*.log"):
                log.rename(keep / log.name)
            print(f"logs kept in {keep}")
    print("FAILED" if failed else "passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
