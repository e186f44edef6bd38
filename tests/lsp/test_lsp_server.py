"""``initpolicy lsp`` end to end: a real server process, spoken to over stdio with pytest-lsp.

One server serves the whole module (starting one costs ~0.5 s). Its ``PYTHONPATH`` puts stand-ins
for keras, tensorflow, jax and torch first (``forbidden/``): importing any of them is logged and
fails, and the last test checks the log is empty.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from keras_initpolicy import lint
from keras_initpolicy.language.fmt import format_policy

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FORBIDDEN_LOG = Path(tempfile.gettempdir()) / f"kip-lsp-forbidden-imports-{os.getpid()}.log"
FORBIDDEN_LOG.unlink(missing_ok=True)

ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(HERE / "forbidden"), str(REPO)]),
    "KIP_FORBIDDEN_LOG": str(FORBIDDEN_LOG),
}

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "keras_initpolicy", "lsp"], server_env=ENV
    ),
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code"))
    )
    yield
    await lsp_client.shutdown_session()


_counter = iter(range(10**6))


async def open_doc(client: LanguageClient, text: str, path: Path | None = None) -> str:
    """Open ``text`` as a document (at ``path``, or an untitled one) and wait for diagnostics."""
    uri = path.as_uri() if path else f"untitled:policy-{next(_counter)}.initpolicy"
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(
                uri=uri, language_id="initpolicy", version=1, text=text
            )
        )
    )
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


def apply(text: str, edits: list[lsp.TextEdit]) -> str:
    """Apply edits (ASCII text, so UTF-16 columns are code points), last first."""
    lines = text.split("\n")

    def offset(pos: lsp.Position) -> int:
        return sum(len(x) + 1 for x in lines[: pos.line]) + pos.character

    for edit in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        start, end = offset(edit.range.start), offset(edit.range.end)
        text = text[:start] + edit.new_text + text[end:]
        lines = text.split("\n")
    return text


def covered(text: str, rng: lsp.Range) -> str:
    assert rng.start.line == rng.end.line
    return text.split("\n")[rng.start.line][rng.start.character : rng.end.character]


# -- diagnostics -----------------------------------------------------------------------------------


async def test_diagnostics_on_open_have_exact_ranges(client: LanguageClient):
    text = (
        "Dnse -> he_normal\n"
        "Dense[activation=rleu] -> random_normal(stddev=-1)\n"
        "Dense -> zeros; Dense -> zeros\n"
    )
    uri = await open_doc(client, text)
    found = {(d.code, covered(text, d.range)) for d in client.diagnostics[uri]}
    assert ("IP101", "Dnse") in found
    assert ("IP104", "rleu") in found
    assert ("IP106", "stddev=-1") in found
    assert ("IP302", "Dense -> zeros") in found
    for d in client.diagnostics[uri]:
        assert d.source == "initpolicy"
        assert d.severity in (lsp.DiagnosticSeverity.Error, lsp.DiagnosticSeverity.Warning)


async def test_diagnostics_follow_every_change(client: LanguageClient):
    uri = await open_doc(client, "Dense -> he_normal\n")
    assert not client.diagnostics[uri]
    # an incremental edit, as VS Code sends them: he_normal -> he_normol
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                lsp.TextDocumentContentChangePartial(
                    range=lsp.Range(
                        start=lsp.Position(line=0, character=16),
                        end=lsp.Position(line=0, character=17),
                    ),
                    text="o",
                )
            ],
        )
    )
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    (diag,) = client.diagnostics[uri]
    assert diag.code == "IP105" and "he_normol" in diag.message
    assert (diag.range.start.character, diag.range.end.character) == (9, 18)
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=3),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text="Dense -> auto\n")],
        )
    )
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert not client.diagnostics[uri]


async def test_columns_are_utf16_after_wide_characters(client: LanguageClient):
    # "😀" is one code point but two UTF-16 units: the range must count units.
    text = 'Dense[name~="😀"] -> he_norml\n'
    uri = await open_doc(client, text)
    (diag,) = client.diagnostics[uri]
    assert (diag.range.start.character, diag.range.end.character) == (21, 29)


async def test_syntax_error_is_a_diagnostic(client: LanguageClient):
    uri = await open_doc(client, "Dense => zeros\n")
    (diag,) = client.diagnostics[uri]
    assert diag.code == "IP001" and diag.range.start.line == 0


async def test_include_errors_show_at_the_include_line(client: LanguageClient, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "base.initpolicy").write_text('@include "deep.initpolicy"\n')
    (tmp_path / "sub" / "deep.initpolicy").write_text("Dense -> he_norml\n")
    doc = tmp_path / "sub" / "main.initpolicy"
    text = '*.bias -> zeros\n@include "base.initpolicy"\n@include "gone.initpolicy"\n'
    uri = await open_doc(client, text, doc)
    (missing,) = client.diagnostics[uri]  # a missing include stops loading
    assert missing.code == "IP002" and missing.range.start.line == 2
    assert covered(text, missing.range) == '@include "gone.initpolicy"'

    text = '*.bias -> zeros\n@include "base.initpolicy"\n'
    uri = await open_doc(client, text, tmp_path / "sub" / "other.initpolicy")
    (diag,) = client.diagnostics[uri]
    assert diag.code == "IP105" and diag.range.start.line == 1
    assert "deep.initpolicy:1:10" in diag.message
    (related,) = diag.related_information
    assert related.location.uri == (tmp_path / "sub" / "deep.initpolicy").as_uri()
    assert related.location.range.start == lsp.Position(line=0, character=9)


async def test_included_file_changed_on_disk_relints(client: LanguageClient, tmp_path):
    base = tmp_path / "base.initpolicy"
    base.write_text("Dense -> he_norml\n")
    uri = await open_doc(client, '@include "base.initpolicy"\n', tmp_path / "main.initpolicy")
    assert [d.code for d in client.diagnostics[uri]] == ["IP105"]
    base.write_text("Dense -> he_normal\n")
    client.workspace_did_change_watched_files(
        lsp.DidChangeWatchedFilesParams(
            changes=[lsp.FileEvent(uri=base.as_uri(), type=lsp.FileChangeType.Changed)]
        )
    )
    # every open document is re-linted; wait for this one's turn
    for _ in range(500):
        await asyncio.wait_for(
            client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), timeout=30
        )
        if not client.diagnostics[uri]:
            break
    assert not client.diagnostics[uri]


async def test_project_lint_settings_apply(client: LanguageClient, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.keras-initpolicy.lint]\nignore = ["IP201"]\ncustom-layers = ["my_layers"]\n'
    )
    text = "Dense -> zeros\nMyBlock -> auto\n"
    uri = await open_doc(client, text, tmp_path / "p.initpolicy")
    (diag,) = client.diagnostics[uri]  # IP201 ignored
    assert diag.code == "IP101" and diag.severity == lsp.DiagnosticSeverity.Warning
    assert "never imports Keras" in diag.message


# -- hover ------------------------------------------------------------------------------------------


async def hover_text(client, uri, line, character) -> str | None:
    result = await client.text_document_hover_async(
        lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            position=lsp.Position(line=line, character=character),
        )
    )
    return None if result is None else result.contents.value


async def test_hover_initializer_shows_distribution_formula_and_fans(client: LanguageClient):
    uri = await open_doc(
        client, "Dense -> he_normal(negative_slope=0.2)\nDense -> glorot_uniform\n"
    )
    he = await hover_text(client, uri, 0, 12)
    assert "HeNormal" in he and "truncated normal" in he
    assert "√(2/((1+a²)·fan_in))" in he and "a = 0.2" in he
    assert "depthwise" in he  # the layer-aware fans
    glorot = await hover_text(client, uri, 1, 10)
    assert "uniform U[-r, r], r = √(6/(fan_in+fan_out))" in glorot


async def test_hover_inside_expressions(client: LanguageClient):
    text = "Dense -> random_normal(stddev=0.02/sqrt(2*blocks))\n"
    uri = await open_doc(client, text)
    assert "number of blocks" in await hover_text(client, uri, 0, text.index("blocks") + 1)
    assert "takes 1 argument" in await hover_text(client, uri, 0, text.index("sqrt"))
    call = await hover_text(client, uri, 0, 12)
    assert "N(0, 0.02 / sqrt(2 * blocks))" in call and "stddev=0.02 / sqrt(2 * blocks)" in call


async def test_hover_class_lists_its_weights(client: LanguageClient):
    uri = await open_doc(client, "LSTM.recurrent_kernel -> orthogonal\n")
    text = await hover_text(client, uri, 0, 2)
    assert "`recurrent_kernel`" in text and "`kernel`" in text and "LSTMCell" in text
    weight = await hover_text(client, uri, 0, 10)
    assert "rank 2" in weight


async def test_hover_preset_include(client: LanguageClient):
    uri = await open_doc(client, '@include "preset:no_such_preset"\n')
    text = await hover_text(client, uri, 0, 15)
    assert "No preset named `no_such_preset`" in text
    uri = await open_doc(client, '@include "preset:gpt2"\n')
    text = await hover_text(client, uri, 0, 15)
    assert "**preset:gpt2**" in text and "Radford" in text
    assert "random_normal(stddev=0.02 / sqrt(2 * blocks))" in text


# -- completion --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected, absent",
    [
        ("Den", {"Dense", "Conv2D", "*"}, {"he_normal"}),
        ("Dense[", {"units", "activation", "use_bias"}, {"filters"}),
        ("Conv2D[activation=", {"relu", "gelu", "tanh"}, {"units"}),
        ("LSTM.", {"kernel", "recurrent_kernel", "bias"}, {"gamma"}),
        ("Dense -> he", {"he_normal", "glorot_uniform", "auto"}, {"Dense"}),
        ("Dense -> he_normal(", {"seed", "variant", "negative_slope"}, {"stddev"}),
        ("Dense -> variance_scaling(mode=", {"fan_in", "fan_avg"}, {"seed"}),
        ("@", {"@seed", "@explicit", "@include"}, set()),
        ("@include ", {'"preset:gpt2"', '"preset:mup"'}, {"keep"}),
        ("Dense -> random_normal(stddev=0.02/sqrt(2*", {"blocks", "depth", "fan_in"}, {"seed"}),
        ("Dense -> random_normal(stddev=", {"fan_in", "sqrt"}, {"seed"}),
    ],
    ids=[
        *("class", "attribute", "activation", "weight", "initializer", "argument", "choice"),
        *("@", "preset", "expression", "numeric-value"),
    ],
)
async def test_completion_by_context(client: LanguageClient, line, expected, absent):
    uri = await open_doc(client, line)
    result = await client.text_document_completion_async(
        lsp.CompletionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            position=lsp.Position(line=0, character=len(line)),
        )
    )
    labels = {item.label for item in result.items}
    assert expected <= labels
    assert not absent & labels


async def test_completion_replaces_the_word_being_typed(client: LanguageClient):
    text = "@ex"
    uri = await open_doc(client, text)
    result = await client.text_document_completion_async(
        lsp.CompletionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            position=lsp.Position(line=0, character=3),
        )
    )
    item = next(i for i in result.items if i.label == "@explicit")
    assert apply(text, [item.text_edit]) == "@explicit"


# -- formatting ---------------------------------------------------------------------------------------


async def test_formatting_uses_fmt(client: LanguageClient):
    text = "@seed 1\nDense [ activation = relu ]->he_normal;*.bias->zeros # b\n"
    uri = await open_doc(client, text)
    edits = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            options=lsp.FormattingOptions(tab_size=4, insert_spaces=True),
        )
    )
    assert apply(text, edits) == format_policy(text)
    assert apply(text, edits) != text


async def test_formatting_leaves_broken_text_alone(client: LanguageClient):
    uri = await open_doc(client, "Dense => zeros\n")
    edits = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            options=lsp.FormattingOptions(tab_size=4, insert_spaces=True),
        )
    )
    assert not edits
    assert any("not formatted" in m.message for m in client.messages)


# -- quick fixes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, fixed",
    [
        ("Dnse -> auto", "Dense -> auto"),
        ("Dense.kernal -> auto", "Dense.kernel -> auto"),
        ("Dense[unitz=3] -> auto", "Dense[units=3] -> auto"),
        ('Dense[activation="rleu"] -> auto', 'Dense[activation="relu"] -> auto'),
        ("Dense -> he_norml", "Dense -> he_normal"),
        ("Dense -> random_normal(stdev=0.1)", "Dense -> random_normal(stddev=0.1)"),
        ('Dense -> variance_scaling(mode="fan_inn")', 'Dense -> variance_scaling(mode="fan_in")'),
        ("@sed 1", "@seed 1"),
        ('@include "preset:gp2"', '@include "preset:gpt2"'),
    ],
    ids=[
        *("IP101", "IP102", "IP103", "IP104", "IP105", "IP106-name", "IP106-value", "IP107"),
        "IP002-preset",
    ],
)
async def test_quick_fix_for_every_did_you_mean(client: LanguageClient, text, fixed):
    uri = await open_doc(client, text)
    diagnostics = client.diagnostics[uri]
    assert any("Did you mean" in d.message for d in diagnostics)
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=diagnostics[0].range,
            context=lsp.CodeActionContext(diagnostics=diagnostics),
        )
    )
    preferred = [a for a in actions if a.is_preferred]
    assert preferred and preferred[0].kind == lsp.CodeActionKind.QuickFix
    result = apply(text, preferred[0].edit.changes[uri])
    assert result == fixed
    assert lint(result) == []


async def test_quick_fix_in_an_included_file_edits_that_file(client: LanguageClient, tmp_path):
    (tmp_path / "base.initpolicy").write_text("Dense -> he_norml\n")
    uri = await open_doc(client, '@include "base.initpolicy"\n', tmp_path / "main.initpolicy")
    diagnostics = client.diagnostics[uri]
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=diagnostics[0].range,
            context=lsp.CodeActionContext(diagnostics=diagnostics),
        )
    )
    base_uri = (tmp_path / "base.initpolicy").as_uri()
    preferred = next(a for a in actions if a.is_preferred)
    assert apply("Dense -> he_norml\n", preferred.edit.changes[base_uri]) == "Dense -> he_normal\n"


# -- last: nothing above imported Keras or a backend in the server -------------------------------


async def test_server_never_imported_keras_or_a_backend(client: LanguageClient):
    uri = await open_doc(client, "Conv2D[activation=relu] -> auto\n")
    assert await hover_text(client, uri, 0, 30)
    assert not FORBIDDEN_LOG.exists(), FORBIDDEN_LOG.read_text()
