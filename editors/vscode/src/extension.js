// The VS Code client of the meshc language server: starts `meshc lsp` (or the
// standalone `meshc-language-server`) over stdio for `.mesh` files and restarts it when its settings change.
'use strict';

const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');
const { resolveServer } = require('./server');

const CLIENT_ID = 'meshc'; // the client reads `meshc.trace.server`
const CLIENT_NAME = 'meshc Language Server';

/** @type {LanguageClient | undefined} */
let client;
/** @type {vscode.Disposable[]} */
let clientDisposables = [];
let outputChannel;
let traceChannel;

/**
 * The trace channel. vscode-languageclient 10 and later trace only while the trace
 * channel's log level is Trace, and a log channel's level cannot be set by an
 * extension; this channel takes its level from `meshc.trace.server` instead, so
 * that the setting alone turns tracing on and off.
 */
function createTraceChannel() {
  const channel = vscode.window.createOutputChannel(`${CLIENT_NAME} Trace`);
  const levelChanged = new vscode.EventEmitter();
  const wanted = () =>
    vscode.workspace.getConfiguration(CLIENT_ID).get('trace.server', 'off') === 'off' ? vscode.LogLevel.Info : vscode.LogLevel.Trace;
  let level = wanted();
  const write = (message) =>
    channel.appendLine(`[${new Date().toLocaleTimeString()}] ${message instanceof Error ? String(message.stack ?? message.message) : String(message)}`);
  return {
    name: channel.name,
    get logLevel() {
      return level;
    },
    onDidChangeLogLevel: levelChanged.event,
    refresh() {
      const next = wanted();
      if (next !== level) {
        level = next;
        levelChanged.fire(next);
      }
    },
    trace: write,
    debug: write,
    info: write,
    warn: write,
    error: write,
    append: (value) => channel.append(value),
    appendLine: write,
    replace: (value) => channel.replace(value),
    clear: () => channel.clear(),
    show: (...args) => channel.show(...args),
    hide: () => channel.hide(),
    dispose: () => {
      levelChanged.dispose();
      channel.dispose();
    },
  };
}

async function startClient() {
  const config = vscode.workspace.getConfiguration(CLIENT_ID);
  const workspaceFolder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const server = resolveServer({
    configuredPath: config.get('server.path'),
    args: config.get('server.args', []),
    workspaceFolder,
  });
  if (server.error) {
    outputChannel.error(server.error);
    // Not awaited: activation must not wait for the user to dismiss a notification.
    vscode.window.showErrorMessage(`meshc: ${server.error}`, 'Open Settings', 'Show Output').then((choice) => {
      if (choice === 'Open Settings') {
        vscode.commands.executeCommand('workbench.action.openSettings', 'meshc.server');
      } else if (choice === 'Show Output') {
        outputChannel.show();
      }
    });
    return;
  }
  outputChannel.info(`starting ${server.description}`);

  const watcher = vscode.workspace.createFileSystemWatcher('**/{mesh.toml,*.mesh}');
  clientDisposables.push(watcher);
  // No `transport`: the server speaks LSP on stdin/stdout, and a `transport` of
  // stdio would append `--stdio` to its arguments.
  const serverOptions = { command: server.command, args: server.args };
  const clientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'mesh' },
      { scheme: 'untitled', language: 'mesh' },
      // Istio YAML (Telemetry, WasmPlugin, EnvoyFilter) is checked as `meshc check`
      // checks it; the server passes over YAML of other kinds without a word.
      { scheme: 'file', language: 'yaml' },
    ],
    synchronize: { fileEvents: watcher },
    outputChannel,
    traceOutputChannel: traceChannel,
  };
  client = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
  try {
    await client.start();
  } catch (error) {
    outputChannel.error(`could not start ${server.description}: ${error?.message ?? error}`);
    vscode.window.showErrorMessage(`meshc: could not start the language server (${server.description}). See the output for details.`, 'Show Output').then(
      (choice) => choice && outputChannel.show(),
    );
  }
}

async function stopClient() {
  const running = client;
  client = undefined;
  if (running) {
    try {
      await running.stop();
    } catch (error) {
      outputChannel.warn(`stopping the language server: ${error?.message ?? error}`);
    }
  }
  for (const disposable of clientDisposables) {
    disposable.dispose();
  }
  clientDisposables = [];
}

// Restarts run one after the other, however fast the settings change.
let restarting = Promise.resolve();
function restartClient() {
  restarting = restarting
    .then(stopClient)
    .then(startClient)
    .catch((error) => outputChannel.error(`restarting the language server: ${error?.message ?? error}`));
  return restarting;
}

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  outputChannel = vscode.window.createOutputChannel(CLIENT_NAME, { log: true });
  traceChannel = createTraceChannel();
  context.subscriptions.push(
    outputChannel,
    traceChannel,
    vscode.commands.registerCommand('meshc.restartServer', restartClient),
    vscode.commands.registerCommand('meshc.showOutput', () => outputChannel.show()),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('meshc.trace.server')) {
        traceChannel.refresh();
      }
      if (event.affectsConfiguration('meshc.server')) {
        restartClient();
      }
    }),
    { dispose: () => void stopClient() },
  );
  await startClient();
}

function deactivate() {
  return stopClient();
}

module.exports = { activate, deactivate };
