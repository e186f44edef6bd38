"""The language server: pygls handlers that translate between LSP and the modules beside this.

Diagnostics on open and on every change, hover, completion, formatting and quick fixes. The
analysis works in code-point columns; every position crossing the wire goes through the
document's position codec (UTF-16 unless the client negotiated otherwise). Nothing here imports
Keras: lint, hover and completion read the catalogues only.
"""

from __future__ import annotations

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from .. import __version__
from ..errors import PolicyError
from ..language.fmt import format_policy
from .complete import complete
from .findings import document_findings
from .fixes import fixes_for
from .hover import hover_at

__all__ = ["build_server", "serve", "SOURCE"]

SOURCE = "initpolicy"

_SEVERITY = {
    "error": lsp.DiagnosticSeverity.Error,
    "warning": lsp.DiagnosticSeverity.Warning,
    "info": lsp.DiagnosticSeverity.Information,
}
_KIND = {
    "class": lsp.CompletionItemKind.Class,
    "weight": lsp.CompletionItemKind.Field,
    "attribute": lsp.CompletionItemKind.Property,
    "value": lsp.CompletionItemKind.EnumMember,
    "initializer": lsp.CompletionItemKind.Function,
    "argument": lsp.CompletionItemKind.Variable,
    "variable": lsp.CompletionItemKind.Constant,
    "function": lsp.CompletionItemKind.Function,
    "directive": lsp.CompletionItemKind.Keyword,
    "preset": lsp.CompletionItemKind.Module,
}
_TRIGGERS = ["[", ".", "(", ",", "@", " ", ">", "=", "*", "/", "+", "-"]


def _lines(document) -> list[str]:
    return document.source.split("\n")


def _range(document, line: int, start: int, end: int) -> lsp.Range:
    lines = _lines(document)
    codec = document.position_codec
    return lsp.Range(
        start=codec.position_to_client_units(lines, lsp.Position(line=line, character=start)),
        end=codec.position_to_client_units(lines, lsp.Position(line=line, character=end)),
    )


def _cursor(document, position: lsp.Position) -> tuple[int, int]:
    """The client's position as (line, code-point column)."""
    lines = _lines(document)
    if position.line >= len(lines):
        return position.line, 0
    pos = document.position_codec.position_from_client_units(lines, position)
    return pos.line, pos.character


def _path(uri: str) -> str | None:
    return to_fs_path(uri) if uri.startswith("file:") else None


def _diagnostics(server: LanguageServer, document) -> list[lsp.Diagnostic]:
    out = []
    for f in document_findings(document.source, _path(document.uri)):
        related = None
        if f.related is not None:
            uri = from_fs_path(f.related.path) or f.related.path
            other = server.workspace.get_text_document(uri)
            where = lsp.Location(
                uri=uri, range=_range(other, f.related.line, f.related.start, f.related.end)
            )
            related = [lsp.DiagnosticRelatedInformation(location=where, message=f.message)]
        out.append(
            lsp.Diagnostic(
                range=_range(document, f.line, f.start, f.end),
                message=f.message,
                severity=_SEVERITY.get(f.severity, lsp.DiagnosticSeverity.Error),
                code=f.code,
                source=SOURCE,
                related_information=related,
            )
        )
    return out


def build_server() -> LanguageServer:
    """A server with every feature registered (not started)."""
    server = LanguageServer(SOURCE, __version__)

    def publish(uri: str) -> None:
        document = server.workspace.get_text_document(uri)
        server.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(
                uri=uri, version=document.version, diagnostics=_diagnostics(server, document)
            )
        )

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: LanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
        publish(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: LanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
        publish(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: LanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
        publish(params.text_document.uri)  # included files may have changed on disk

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def files_changed(ls: LanguageServer, params: lsp.DidChangeWatchedFilesParams) -> None:
        for uri in list(server.workspace.text_documents):  # an included file may have changed
            publish(uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: LanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
        server.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
        )

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: LanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
        document = server.workspace.get_text_document(params.text_document.uri)
        line, column = _cursor(document, params.position)
        found = hover_at(document.source, line, column)
        if found is None:
            return None
        markdown, (start, end) = found
        return lsp.Hover(
            contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=markdown),
            range=_range(document, line, start, end),
        )

    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=_TRIGGERS)
    )
    def completion(ls: LanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        document = server.workspace.get_text_document(params.text_document.uri)
        line, column = _cursor(document, params.position)
        candidates, start = complete(document.source, line, column)
        where = _range(document, line, start, column)
        items = [
            lsp.CompletionItem(
                label=c.label,
                kind=_KIND.get(c.kind),
                detail=c.detail or None,
                text_edit=lsp.TextEdit(range=where, new_text=c.insert or c.label),
            )
            for c in candidates
        ]
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: LanguageServer, params: lsp.DocumentFormattingParams):
        document = server.workspace.get_text_document(params.text_document.uri)
        try:
            formatted = format_policy(document.source, _path(document.uri) or "<document>")
        except PolicyError as error:
            ls.window_show_message(
                lsp.ShowMessageParams(
                    type=lsp.MessageType.Warning,
                    message=f"initpolicy fmt: not formatted, the policy has errors: {error.message}",
                )
            )
            return None
        if formatted == document.source:
            return []
        lines = _lines(document)
        end = _range(document, len(lines) - 1, len(lines[-1]), len(lines[-1])).end
        whole = lsp.Range(start=lsp.Position(line=0, character=0), end=end)
        return [lsp.TextEdit(range=whole, new_text=formatted)]

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]),
    )
    def code_action(ls: LanguageServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        uri = params.text_document.uri
        document = server.workspace.get_text_document(uri)
        actions: list[lsp.CodeAction] = []
        for diag in params.context.diagnostics:
            if diag.source not in (None, SOURCE):
                continue
            # A finding about an included file is fixed in that file.
            target, at = uri, diag.range.start
            if diag.related_information:
                target = diag.related_information[0].location.uri
                at = diag.related_information[0].location.range.start
            doc = document if target == uri else server.workspace.get_text_document(target)
            try:
                line, column = _cursor(doc, at)
                fixes = fixes_for(doc.source, line, column, diag.message)
            except OSError:  # the included file went away
                continue
            for fix in fixes:
                edit = lsp.TextEdit(
                    range=_range(doc, fix.line, fix.start, fix.end), new_text=fix.new_text
                )
                actions.append(
                    lsp.CodeAction(
                        title=fix.title,
                        kind=lsp.CodeActionKind.QuickFix,
                        diagnostics=[diag],
                        is_preferred=fix.preferred,
                        edit=lsp.WorkspaceEdit(changes={target: [edit]}),
                    )
                )
        return actions

    return server


def serve() -> None:
    """Run the server on standard input/output until the client ends the session."""
    build_server().start_io()
