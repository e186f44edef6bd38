"""Reports render as HTML tables in a real Jupyter run (docs/editors.md#notebooks).

A notebook built with nbformat runs in a fresh ipykernel through nbclient; each report is the
last expression of a cell, so Jupyter asks it for ``_repr_html_`` exactly as it would for a user.
One kernel and one small model serve every report (the run takes ~10-20 s per backend).
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import keras_initpolicy

pytestmark = [pytest.mark.keras, pytest.mark.slow]

REPO = Path(keras_initpolicy.__file__).resolve().parent.parent

SETUP = """
import numpy as np
import keras
import keras_initpolicy as kip
from keras_initpolicy.analysis.diagnose import diagnose

policy = kip.parse("@seed 1\\nDense[activation=relu] -> he_normal\\nDense -> glorot_uniform\\n*.bias -> zeros")

def build():
    return keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4)]
    )

with policy.scope():
    model = build()
"""

#: name -> the cell whose value is displayed
REPORTS = {
    "explanation": "policy.explain(model)",
    "lint": 'kip.lint("Dnse -> zeros\\nDense -> he_norml")',
    "lint-clean": 'kip.lint("Dense -> auto")',
    "audit": "kip.audit(keras.Sequential([keras.Input((8,)), "
    'keras.layers.Dense(16, kernel_initializer="zeros")]))',
    "calibration": "kip.calibrate(model, np.random.default_rng(0).normal(size=(32, 8)), seed=0)",
    "diagnose": 'diagnose(policy, build, compare="keras", batch=8)',
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP)]
    nb.cells += [nbformat.v4.new_code_cell(code) for code in REPORTS.values()]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    client = NotebookClient(nb, timeout=180, kernel_name="python3")
    client.execute(env=env)
    out = {}
    for name, cell in zip(REPORTS, nb.cells[1:], strict=True):
        results = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert results, f"cell {name!r} displayed nothing: {cell.outputs}"
        out[name] = results[0]["data"].get("text/html", "")
    return out


def rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>(.*?)</tr>", body)


@pytest.mark.parametrize("name", list(REPORTS))
def test_every_report_is_an_html_table(rendered, name):
    assert rendered[name].startswith('<table class="keras-initpolicy">')


def test_explanation_has_one_row_per_weight(rendered):
    html = rendered["explanation"]
    table = rows(html)
    assert len(table) == 4  # two kernels, two biases
    first = next(r for r in table if "<td>8x16</td>" in r)
    assert "<td>HeNormal</td>" in first and "&lt;string&gt;:2 Dense[activation" in first
    second = next(r for r in table if "<td>16x4</td>" in r)
    assert "<td>GlorotUniform</td>" in second and "&lt;string&gt;:3 Dense -&gt;" in second


def test_lint_lists_each_finding(rendered):
    html = rendered["lint"]
    assert len(rows(html)) == 3
    assert "IP101" in html and "IP105" in html and "IP201" in html
    assert "Did you mean `Dense`?" in html
    assert "no findings" in rendered["lint-clean"] and not rows(rendered["lint-clean"])


def test_audit_findings_name_layer_and_weight(rendered):
    html = rendered["audit"]
    assert "IP403" in html and "<td>kernel</td>" in html


def test_calibration_report_rows(rendered):
    html = rendered["calibration"]
    assert len(rows(html)) == 2  # the two Dense layers


def test_diagnose_has_both_runs_and_its_plot_inline(rendered):
    html = rendered["diagnose"]
    runs = [re.match(r"<td>(.*?)</td>", r).group(1) for r in rows(html)]
    assert runs.count("policy") == 2 and runs.count("keras") == 2
    png = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert png, "no inline plot"
    assert base64.b64decode(png.group(1)).startswith(b"\x89PNG\r\n\x1a\n")
