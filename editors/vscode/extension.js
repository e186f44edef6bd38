// keras-initpolicy for VS Code: the grammar is declared in package.json; this file starts the
// language server (`initpolicy lsp`, from `pip install 'keras-initpolicy[lsp]'`) over stdio.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const configured = vscode.workspace
    .getConfiguration("initpolicy")
    .get("server.command", ["initpolicy", "lsp"]);
  const folders = vscode.workspace.workspaceFolders;
  const root = folders && folders.length ? folders[0].uri.fsPath : "";
  const expand = (part) => part.split("${workspaceFolder}").join(root);
  const [command, ...args] = (configured.length ? configured : ["initpolicy", "lsp"]).map(expand);
  const serverOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [{ language: "initpolicy" }],
    // re-lint open policies when a file they include changes on disk
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.initpolicy") },
  };
  client = new LanguageClient("initpolicy", "keras-initpolicy", serverOptions, clientOptions);
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
