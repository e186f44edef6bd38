"""Run the zoo's full matrix (every model of tests/zoo/catalog.py x tensorflow/jax/torch) and
write docs/zoo.md: per model and backend, whether Keras alone builds it, whether it builds inside
`examples/policies/default.initpolicy`, its number of weights, how many a rule decided, and the
seconds of each build.

Each backend runs in its own subprocess (a backend is chosen when Keras is imported), which
appends one JSON line per model to `build/zoo/<backend>.jsonl` as it goes; a crashed or
timed-out worker is restarted after the model it was on, and `--resume` keeps earlier lines.

    python tools/zoo_table.py                         # everything, then docs/zoo.md
    python tools/zoo_table.py --backends jax          # one backend
    python tools/zoo_table.py --models ResNet50 GPT2Backbone --backends jax torch
    python tools/zoo_table.py --table-only            # rewrite docs/zoo.md from the JSON lines

The invariants themselves (explain, streams, seeds, He variance, save/load) are tests:
`ZOO_FULL=1 KERAS_BACKEND=<b> pytest -m zoo tests/zoo` runs all of them on one backend.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "examples" / "policies" / "default.initpolicy"
RESULTS = ROOT / "build" / "zoo"
DOC = ROOT / "docs" / "zoo.md"
BACKENDS = ("tensorflow", "jax", "torch")


def _catalog():
    spec = importlib.util.spec_from_file_location("zoo_catalog", ROOT / "tests/zoo/catalog.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["zoo_catalog"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("|", "/")
    return text[:240]


# --------------------------------------------------------------------------------------------
# Worker: one backend, models in catalogue order, one JSON line each.


def _timed_build(build, policy=None):
    start = time.perf_counter()
    if policy is None:
        model = build()
    else:
        with policy.scope():
            model = build()
    return model, time.perf_counter() - start


def _measure(entry, policy) -> dict:
    import keras

    row = {"model": entry.name, "library": entry.library}
    try:
        model, seconds = _timed_build(entry.build)
        row.update(keras_ok=True, keras_seconds=round(seconds, 2), weights=len(model.weights))
        del model
    except Exception as exc:  # noqa: BLE001 - the table reports it
        row.update(keras_ok=False, keras_error=_short(exc))
    keras.backend.clear_session()
    gc.collect()
    try:
        model, seconds = _timed_build(entry.build, policy)
        row.update(policy_ok=True, policy_seconds=round(seconds, 2), weights=len(model.weights))
        try:
            reasons = [a.reason for a in policy.explain(model)]
            row.update(rule=reasons.count("rule"), explicit=reasons.count("explicit"))
        except Exception as exc:  # noqa: BLE001
            row.update(explain_error=_short(exc))
        del model
    except Exception as exc:  # noqa: BLE001
        row.update(policy_ok=False, policy_error=_short(exc))
    keras.backend.clear_session()
    gc.collect()
    return row


def worker(backend: str, names: list[str], out: Path) -> None:
    import warnings

    import keras

    import keras_initpolicy as kip

    assert keras.backend.backend() == backend, (keras.backend.backend(), backend)
    warnings.simplefilter("ignore")
    policy = kip.load(POLICY)
    cat = _catalog()
    with out.open("a", encoding="utf-8") as f:
        for name in names:
            print(f"[{backend}] {name}", file=sys.stderr, flush=True)
            try:
                row = _measure(cat.BY_NAME[name], policy)
            except Exception:  # noqa: BLE001
                row = {"model": name, "worker_error": traceback.format_exc()[-400:]}
            row["backend"] = backend
            f.write(json.dumps(row) + "\n")
            f.flush()


# --------------------------------------------------------------------------------------------
# Driver.


def _done(path: Path) -> dict[str, dict]:
    rows = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows[row["model"]] = row
    return rows


def run_backend(backend: str, names: list[str], timeout: float, resume: bool) -> None:
    out = RESULTS / f"{backend}.jsonl"
    if not resume:
        out.unlink(missing_ok=True)
    while True:
        todo = [n for n in names if n not in _done(out)]
        if not todo:
            return
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        cmd = [sys.executable, __file__, "--worker", backend, "--out", str(out), "--models"]
        try:
            proc = subprocess.run(cmd + todo, env=env, timeout=timeout, cwd=ROOT)
            failed = proc.returncode != 0
        except subprocess.TimeoutExpired:
            failed = True
        if failed:  # the model it was on crashed the process or ran out of time: record, go on
            left = [n for n in names if n not in _done(out)]
            if left:
                with out.open("a", encoding="utf-8") as f:
                    row = {
                        "model": left[0],
                        "backend": backend,
                        "worker_error": "crashed or timed out",
                    }
                    f.write(json.dumps(row) + "\n")


def _cell(row: dict | None) -> str:
    if row is None:
        return "not run"
    if "worker_error" in row:
        return f"✗ worker: {row['worker_error'][-120:]}"
    if not row.get("keras_ok"):
        return f"✗ Keras itself: {row.get('keras_error', '?')}"
    if not row.get("policy_ok"):
        return f"✗ **policy**: {row.get('policy_error', '?')}"
    rule = row.get("rule", "?")
    if "explain_error" in row:
        rule = f"explain: {row['explain_error']}"
    return f"✓ {row['weights']} / {rule}"


def write_table(names: list[str], library: dict[str, str]) -> str:
    results = {b: _done(RESULTS / f"{b}.jsonl") for b in BACKENDS}
    lines = [
        "# The zoo: every keras.applications model and keras-hub backbone, on every backend",
        "",
        "Generated by `python tools/zoo_table.py` (do not edit by hand); models and their",
        "configurations are in `tests/zoo/catalog.py`. Each cell: whether the model builds inside",
        "`examples/policies/default.initpolicy` — **weights** / **rule-decided** weights (explain's",
        '`reason == "rule"`). Build times are not shown: these builds share one process, so the',
        "first model to meet a shape pays for compiling it; `benchmarks/bench_models.py` times",
        "builds in fresh processes (benchmarks/README.md).",
        '"✗ Keras itself" means Keras or keras-hub cannot build it there without any policy;',
        '"✗ **policy**" is a plugin bug. keras.applications models are built at their real size',
        "(they take no width arguments) with the smallest input each accepts; keras-hub backbones",
        "with small configurations.",
        "",
        "The invariants of the zoo (explain has one row per weight, no shared random streams,",
        "seeded rebuild bit-identical, He variance of relu kernels, save + load in a fresh process",
        "without the plugin) are the tests in `tests/zoo/test_zoo.py` (marker `zoo`). CI runs each",
        "model on one backend under one `@explicit` mode (assigned in `tests/zoo/catalog.py`);",
        "`ZOO_FULL=1 KERAS_BACKEND=<backend> pytest -m zoo tests/zoo` runs every model under both",
        'modes on one backend. "not run" below: the generating run did not reach that cell.',
        "",
    ]
    ran = {b: len(results[b]) for b in BACKENDS}
    lines.append(
        "Coverage of this run: "
        + ", ".join(f"{b} {ran[b]}/{len(names)} models" for b in BACKENDS)
        + f" (generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)."
    )
    lines += ["", "| model | library | " + " | ".join(BACKENDS) + " |", "|---|---|---|---|---|"]
    for name in names:
        cells = [_cell(results[b].get(name)) for b in BACKENDS]
        lines.append(f"| {name} | {library[name]} | " + " | ".join(cells) + " |")
    totals = []
    for b in BACKENDS:
        rows = [r for r in results[b].values() if r.get("policy_ok")]
        seconds = sum(r.get("keras_seconds", 0) + r.get("policy_seconds", 0) for r in rows)
        bad = sum(1 for r in results[b].values() if r.get("keras_ok") and not r.get("policy_ok"))
        totals.append(
            f"- {b}: {len(rows)} built under the policy, {bad} policy failures, {seconds:.0f} s"
        )
    lines += ["", "Totals:", "", *totals, ""]
    return "\n".join(lines)


def costs_source(names: list[str]) -> str:
    """`_COST` for tests/zoo/catalog.py: seconds of one policy build per backend (None: not run)."""
    results = {b: _done(RESULTS / f"{b}.jsonl") for b in BACKENDS}
    lines = ["_COST: dict[str, tuple] = {  # " + ", ".join(BACKENDS)]
    for name in names:
        cells = tuple(results[b].get(name, {}).get("policy_seconds") for b in BACKENDS)
        lines.append(f"    {name!r}: {cells!r},")
    return "\n".join(lines + ["}"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--models", nargs="+", help="catalogue names (default: all)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per worker run")
    parser.add_argument("--resume", action="store_true", help="keep earlier results")
    parser.add_argument("--table-only", action="store_true", help="only rewrite docs/zoo.md")
    parser.add_argument(
        "--print-costs",
        action="store_true",
        help="print the measured build seconds as the catalogue's _COST table, then stop",
    )
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cat = _catalog()
    names = args.models or [m.name for m in cat.MODELS]
    unknown = sorted(set(names) - set(cat.BY_NAME))
    if unknown:
        parser.error(f"not in the catalogue: {unknown}; known: {sorted(cat.BY_NAME)}")
    if args.worker:
        worker(args.worker, names, args.out)
        return 0
    if args.print_costs:
        print(costs_source([m.name for m in cat.MODELS]))
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        for backend in args.backends:
            run_backend(backend, names, args.timeout, args.resume)
    library = {m.name: m.library for m in cat.MODELS}
    DOC.write_text(write_table([m.name for m in cat.MODELS], library), encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
