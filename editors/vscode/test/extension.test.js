// The client end to end, without VS Code: the extension is activated against a
// stand-in `vscode` module with the real vscode-languageclient, and starts a fake
// language server found on PATH exactly as it would start meshc's.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createMock, installVscode } = require('./fixtures/vscode-mock');

const FAKE_SERVER = path.join(__dirname, 'fixtures', 'fake-server.js');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'meshc-vscode-test-'));
test.after(() => fs.rmSync(TMP, { recursive: true, force: true }));
const unix = process.platform !== 'win32';

/** A folder with executables `names` that start the fake server, and the log it writes. */
function fakeBin(names) {
  const dir = fs.mkdtempSync(path.join(TMP, 'bin-'));
  for (const name of names) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `#!/bin/sh\nexec "${process.execPath}" "${FAKE_SERVER}" "$@"\n`);
    fs.chmodSync(file, 0o755);
  }
  return { dir, log: path.join(dir, 'log.jsonl') };
}

/**
 * The fake server's log so far. The server appends one line per message while the
 * test reads, so a last line without its newline is still being written and is left
 * for the next read.
 */
function readLog(log) {
  if (!fs.existsSync(log)) {
    return [];
  }
  const lines = fs.readFileSync(log, 'utf8').split('\n');
  lines.pop();
  return lines.filter(Boolean).map((line) => JSON.parse(line));
}

/** The LSP methods the fake server received, in order. */
function methods(log) {
  return readLog(log).map((e) => e.method).filter(Boolean);
}

async function until(condition, what, timeoutMs = 10000) {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) {
      assert.fail(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Activates the extension with `settings` and PATH set to `bin`; returns what it needs to check. */
async function activate(settings, bin) {
  const mock = createMock({ settings });
  installVscode(mock.vscode);
  const extension = require('../src/extension');
  const context = { subscriptions: [] };
  const saved = { PATH: process.env.PATH, FAKE_LSP_LOG: process.env.FAKE_LSP_LOG };
  process.env.PATH = bin.dir;
  process.env.FAKE_LSP_LOG = bin.log;
  const restore = () => {
    process.env.PATH = saved.PATH;
    if (saved.FAKE_LSP_LOG === undefined) {
      delete process.env.FAKE_LSP_LOG;
    } else {
      process.env.FAKE_LSP_LOG = saved.FAKE_LSP_LOG;
    }
  };
  try {
    await extension.activate(context);
  } catch (error) {
    restore();
    throw error;
  }
  const deactivate = async () => {
    try {
      await extension.deactivate();
      for (const disposable of context.subscriptions) {
        disposable.dispose();
      }
    } finally {
      restore();
    }
  };
  return { ...mock, deactivate };
}

test('starts the standalone meshc-language-server when meshc is not on PATH, without extra arguments, and shuts it down', { skip: !unix && 'the fake server is a shell script' }, async () => {
  const bin = fakeBin(['meshc-language-server']);
  const session = await activate({}, bin);
  try {
    await until(() => readLog(bin.log).some((e) => e.method === 'initialized'), 'initialized');
    const [start, ...messages] = readLog(bin.log);
    assert.deepEqual(start.argv, []);
    assert.equal(messages[0].method, 'initialize');
  } finally {
    await session.deactivate();
  }
  // The client has sent `exit` when deactivate returns, but the server records it a
  // moment later: wait for that record instead of reading the log once.
  await until(() => methods(bin.log).includes('exit'), 'the exit notification');
  assert.deepEqual(methods(bin.log).slice(-2), ['shutdown', 'exit']);
});

test('starts `meshc lsp` by default, passes meshc.server.args, and restarts when the settings change', { skip: !unix && 'the fake server is a shell script' }, async () => {
  const bin = fakeBin(['meshc', 'meshc-language-server']);
  const session = await activate({ 'meshc.server.args': ['--log', 'debug'] }, bin);
  try {
    await until(() => readLog(bin.log).some((e) => e.method === 'initialized'), 'initialized');
    assert.deepEqual(readLog(bin.log)[0].argv, ['lsp', '--log', 'debug']);
    assert.ok(session.state.channels.get('meshc Language Server').lines.some((l) => l.includes(`${path.join(bin.dir, 'meshc')} lsp`)));

    session.changeSettings({ 'meshc.server.args': [] });
    const restarted = () => {
      const log = readLog(bin.log);
      const second = log.filter((e) => e.argv)[1];
      return second && log.some((e) => e.pid === second.pid && e.method === 'initialized');
    };
    await until(restarted, 'the restarted server');
    const [first, second] = readLog(bin.log).filter((e) => e.argv);
    assert.deepEqual(second.argv, ['lsp']);
    await until(
      () => readLog(bin.log).some((e) => e.pid === first.pid && e.method === 'exit'),
      'the first server to be shut down',
    );
  } finally {
    await session.deactivate();
  }
});

test('meshc.trace.server turns the trace of LSP messages on and off', { skip: !unix && 'the fake server is a shell script' }, async () => {
  const bin = fakeBin(['meshc']);
  const session = await activate({ 'meshc.trace.server': 'verbose' }, bin);
  const trace = session.state.channels.get('meshc Language Server Trace');
  try {
    await until(() => trace.lines.some((l) => l.includes("Sending request 'initialize")), 'the trace of initialize');
    assert.ok(trace.lines.some((l) => l.includes('"processId"')), 'verbose traces carry the parameters');
    session.changeSettings({ 'meshc.trace.server': 'off' });
    trace.lines.splice(0);
  } finally {
    await session.deactivate();
  }
  assert.deepEqual(trace.lines.filter((l) => l.includes("'shutdown")), [], 'no trace once turned off');
});

test('without a server on PATH it says what to install or set, and starts nothing', async () => {
  const bin = fakeBin([]);
  const session = await activate({}, bin);
  try {
    assert.equal(session.state.errors.length, 1);
    assert.match(session.state.errors[0], /meshc was not found on PATH\. Install it \(cargo install --path cli.*meshc\.server\.path/);
    assert.deepEqual(readLog(bin.log), []);
  } finally {
    await session.deactivate();
  }
});

test('registers its commands', async () => {
  const bin = fakeBin([]);
  const session = await activate({}, bin);
  try {
    const manifest = require('../package.json');
    const contributed = manifest.contributes.commands.map((c) => c.command).sort();
    assert.deepEqual([...session.state.commands.keys()].sort(), contributed);
  } finally {
    await session.deactivate();
  }
});
