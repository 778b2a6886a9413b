// Which command the extension starts, from meshc.server.path and meshc.server.args.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { resolveServer, findOnPath, isMeshcCli } = require('../src/server');

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'meshc-server-test-'));
test.after(() => fs.rmSync(TMP, { recursive: true, force: true }));

function folderWith(files) {
  const dir = fs.mkdtempSync(path.join(TMP, 'folder-'));
  for (const [name, mode] of Object.entries(files)) {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '#!/bin/sh\n');
    fs.chmodSync(file, mode);
  }
  return dir;
}

test('the default is meshc lsp from PATH, then the standalone meshc-language-server', () => {
  const both = folderWith({ 'meshc-language-server': 0o755, meshc: 0o755 });
  const onlyServer = folderWith({ 'meshc-language-server': 0o755 });
  const env = (dir) => ({ PATH: ['/nonexistent', dir].join(path.delimiter) });
  for (const configuredPath of [undefined, '', 'meshc', '  meshc  ']) {
    assert.deepEqual(resolveServer({ configuredPath, env: env(both), platform: 'linux' }), {
      command: path.join(both, 'meshc'),
      args: ['lsp'],
      description: `${path.join(both, 'meshc')} lsp`,
    });
  }
  const fallback = resolveServer({ configuredPath: undefined, args: ['--x'], env: env(onlyServer), platform: 'linux' });
  assert.equal(fallback.command, path.join(onlyServer, 'meshc-language-server'));
  assert.deepEqual(fallback.args, ['--x']);
  // Named explicitly, the standalone server is taken even with meshc on PATH.
  const named = resolveServer({ configuredPath: 'meshc-language-server', env: env(both), platform: 'linux' });
  assert.equal(named.command, path.join(both, 'meshc-language-server'));
  assert.deepEqual(named.args, []);
});

test('nothing found is an error that names the setting', () => {
  const empty = folderWith({});
  const result = resolveServer({ configuredPath: undefined, env: { PATH: empty }, platform: 'linux' });
  assert.match(result.error, /meshc\.server\.path/);
  assert.equal(result.command, undefined);
});

test('a file that is not executable is not taken from PATH', { skip: process.platform === 'win32' && 'no execute bit on Windows' }, () => {
  const dir = folderWith({ meshc: 0o644, 'meshc-language-server': 0o755 });
  assert.equal(findOnPath('meshc', { PATH: dir }, 'linux'), undefined);
  assert.equal(resolveServer({ env: { PATH: dir }, platform: 'linux' }).command, path.join(dir, 'meshc-language-server'));
});

test('a configured name is looked up on PATH with no fallback', () => {
  const dir = folderWith({ meshc: 0o755, 'my-server': 0o755 });
  assert.equal(resolveServer({ configuredPath: 'my-server', env: { PATH: dir }, platform: 'linux' }).command, path.join(dir, 'my-server'));
  assert.match(resolveServer({ configuredPath: 'other', env: { PATH: dir }, platform: 'linux' }).error, /`other` was not found on PATH/);
});

test('a configured path may be absolute, under ~, or relative to the workspace folder', () => {
  const dir = folderWith({ 'bin/meshc-language-server': 0o755, 'tools/meshc': 0o755 });
  const absolute = path.join(dir, 'bin', 'meshc-language-server');
  assert.equal(resolveServer({ configuredPath: absolute, env: { PATH: '' } }).command, absolute);
  assert.equal(resolveServer({ configuredPath: '~/bin/meshc-language-server', home: dir, env: { PATH: '' } }).command, absolute);
  assert.equal(resolveServer({ configuredPath: './bin/meshc-language-server', workspaceFolder: dir, env: { PATH: '' } }).command, absolute);
  assert.match(resolveServer({ configuredPath: './bin/meshc-language-server', env: { PATH: '' } }).error, /needs an open workspace folder/);
  assert.match(resolveServer({ configuredPath: path.join(dir, 'missing'), env: { PATH: '' } }).error, /is not an executable file/);
  // A meshc binary is started as `meshc lsp`, and `lsp` is not doubled.
  const meshc = path.join(dir, 'tools', 'meshc');
  assert.deepEqual(resolveServer({ configuredPath: meshc, env: { PATH: '' } }).args, ['lsp']);
  assert.deepEqual(resolveServer({ configuredPath: meshc, args: ['lsp', '--y'], env: { PATH: '' } }).args, ['lsp', '--y']);
});

test('on Windows, PATH is searched with PATHEXT', () => {
  const dir = folderWith({ 'meshc.EXE': 0o644 });
  const env = { Path: `C:\\nowhere;${dir}`, PATHEXT: '.COM;.EXE' };
  assert.equal(findOnPath('meshc', env, 'win32'), path.join(dir, 'meshc.EXE'));
  assert.equal(isMeshcCli('C:\\tools\\meshc.exe'.replace(/\\/g, path.sep)), true);
  assert.equal(isMeshcCli('/usr/bin/meshc-language-server'), false);
});
