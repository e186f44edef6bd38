"""tools/keras_conformance/run.py's lists (docs/conformance.md): the known-failures file and
the comparison of a scoped run with the plain one, differences by design included."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[2] / "tools" / "keras_conformance" / "run.py"


@pytest.fixture(scope="module")
def run():
    spec = importlib.util.spec_from_file_location("kip_conformance_run", RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(**outcomes) -> dict:
    return {"tests": {k: {"outcome": v} for k, v in outcomes.items()}, "unfinished": []}


def test_the_shipped_list_reads_and_names_only_policies_that_exist(run):
    entries = run.read_known()
    assert {e["kind"] for e in entries} <= {"fails", "hangs", "flaky", "differs"}
    assert all(e["policy"] in run.POLICIES for e in entries if e["kind"] == "differs")
    assert all(e["policy"] is None for e in entries if e["kind"] != "differs")


@pytest.mark.parametrize(
    "line",
    [
        "differs | all | a::b | a difference without a policy",
        "differs nope | all | a::b | no such policy",
        "fails seeded-fast | all | a::b | a policy on a Keras-side failure",
        "flaky seeded-fast | all | a::b | a policy on a flaky test",
        "differs seeded-fast | all | a::b |",
    ],
)
def test_a_malformed_line_is_an_error_with_its_line_number(run, tmp_path, line):
    path = tmp_path / "known.txt"
    path.write_text("# comment\n\n" + line + "\n")
    with pytest.raises(SystemExit, match=r"known\.txt:3: "):
        run.read_known(path)


def test_a_difference_by_design_must_pass_plainly_and_fail_in_the_scope(run):
    plain = _run(**{"t::same": "passed", "t::designed": "passed", "t::other": "passed"})
    scoped = _run(**{"t::same": "passed", "t::designed": "failed", "t::other": "failed"})
    intended = frozenset({"t::designed"})
    lines = run.compare(plain, scoped, intended)
    assert len(lines) == 1 and "t::other" in lines[0]  # an unlisted difference still counts
    assert run.compare(plain, scoped, intended | {"t::other"}) == []
    # a listed difference that no longer happens is reported, so the list stays true
    healed = _run(**{"t::same": "passed", "t::designed": "passed", "t::other": "passed"})
    (line,) = run.compare(plain, healed, intended)
    assert "t::designed" in line and "by design" in line


def test_a_flaky_entry_is_read_and_deselected_in_every_run_like_a_hanging_one(run, tmp_path):
    path = tmp_path / "known.txt"
    path.write_text("flaky | torch | a::b | its input is not seeded\n")
    (entry,) = run.read_known(path)
    assert entry["kind"] == "flaky" and entry["policy"] is None and entry["backends"] == ["torch"]
    assert set(run._DESELECTED) == {"hangs", "flaky"}
