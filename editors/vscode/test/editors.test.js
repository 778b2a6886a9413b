// The Neovim and Helix configurations (editors/neovim, editors/helix) agree with the
// VS Code extension on the language, and editors/neovim/syntax/mesh.vim highlights
// the grammar test's sample as meant (checked in Vim, which every machine of the
// project has; Neovim reads the same file).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const EDITORS = path.resolve(__dirname, '..', '..');
const SAMPLE = path.join(__dirname, 'sample.mesh');
const read = (file) => fs.readFileSync(path.join(EDITORS, file), 'utf8');

test('Neovim and Helix start the same server for the same language', () => {
  const helix = read('helix/languages.toml');
  assert.match(helix, /^\[language-server\.meshc\]\ncommand = "meshc"\nargs = \["lsp"\]$/m);
  assert.match(helix, /^name = "mesh"$/m);
  assert.match(helix, /^file-types = \["mesh"\]$/m);
  assert.match(helix, /^language-servers = \["meshc"\]$/m);
  assert.match(helix, /^roots = \["mesh.toml"\]$/m);

  const lsp = read('neovim/lsp/meshc.lua');
  assert.match(lsp, /^local cmd = \{ 'meshc', 'lsp' \}$/m);
  assert.match(read('neovim/lua/meshc/init.lua'), /^  return \{ 'meshc', 'lsp' \}\nend$/m);
  // Istio YAML is checked too (the server passes over other YAML).
  assert.match(lsp, /filetypes = \{ 'mesh', 'yaml' \}/);
  assert.match(read('vscode/src/extension.js'), /\{ scheme: 'file', language: 'yaml' \}/);
  assert.match(lsp, /root_markers = \{ 'mesh.toml', '.git' \}/);
  assert.match(read('neovim/lua/meshc/init.lua'), /vim\.lsp\.start\(/);
  assert.match(read('neovim/ftdetect/mesh.vim'), /^autocmd BufRead,BufNewFile \*\.mesh setfiletype mesh$/m);
});

/** The syntax group at every column of every line of `file`, as Vim highlights it. */
function vimSyntax(file) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshc-vim-'));
  const out = path.join(dir, 'groups.json');
  const script = path.join(dir, 'probe.vim');
  fs.writeFileSync(
    script,
    [
      'set nocompatible',
      `let &runtimepath = ${JSON.stringify(path.join(EDITORS, 'neovim'))} . ',' . &runtimepath`,
      'filetype on',
      'syntax on',
      `edit ${file.replace(/ /g, '\\ ')}`,
      'function! s:Groups(lnum) abort',
      '  return map(range(1, len(getline(a:lnum))), {_, col -> synIDattr(synID(a:lnum, col, 1), "name")})',
      'endfunction',
      'let lines = map(range(1, line("$")), {_, lnum -> s:Groups(lnum)})',
      `call writefile([&filetype, json_encode(lines)], ${JSON.stringify(out)})`,
      'qa!',
    ].join('\n'),
  );
  execFileSync('vim', ['-N', '-u', 'NONE', '-i', 'NONE', '-es', '-S', script], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
  const [filetype, json] = fs.readFileSync(out, 'utf8').split('\n');
  fs.rmSync(dir, { recursive: true, force: true });
  return { filetype, groups: JSON.parse(json) };
}

const hasVim = spawnSync('vim', ['--version'], { stdio: 'ignore' }).status === 0;

test('the Vim syntax highlights the sample', { skip: !hasVim && 'vim is not installed' }, () => {
  const { filetype, groups } = vimSyntax(SAMPLE);
  assert.equal(filetype, 'mesh', 'ftdetect/mesh.vim sets the filetype');
  const lines = fs.readFileSync(SAMPLE, 'utf8').split('\n');
  /** The group of `text` on the first line (after line `after`) holding `context`. */
  const group = (context, text, after = 0) => {
    const index = lines.findIndex((line, i) => i >= after && line.includes(context));
    assert.ok(index >= 0, `the sample has no line containing ${JSON.stringify(context)}`);
    const column = lines[index].indexOf(text, lines[index].indexOf(context));
    assert.ok(column >= 0, `no ${JSON.stringify(text)} on line ${index + 1}`);
    return groups[index][column];
  };
  assert.equal(group('/// Labels every', '///'), 'meshDocComment');
  assert.equal(group('// Metrics for one', '//'), 'meshComment');
  assert.equal(group('/* A block comment', '/*'), 'meshBlockComment');
  assert.equal(group('package payments', 'package'), 'meshInclude');
  assert.equal(group('let team_labels', 'team_labels'), 'meshConstName');
  assert.equal(group('telemetry custom_metrics', 'telemetry'), 'meshDeclaration');
  assert.equal(group('telemetry custom_metrics', 'custom_metrics'), 'meshDeclName');
  assert.equal(group('proxy my_service for', 'proxy'), 'meshDeclaration');
  assert.equal(group('smoke lua_adds_header', 'smoke'), 'meshDeclaration');
  const smoke = lines.findIndex((line) => line.startsWith('smoke '));
  assert.equal(group('  proxy my_service', 'proxy', smoke), 'meshProperty');
  assert.equal(group('proxy { proxy_version', 'proxy'), 'meshProperty');
  assert.equal(group('REQUEST_COUNT (client_and_server)', 'REQUEST_COUNT'), 'meshMetric');
  assert.equal(group('REQUEST_COUNT (client_and_server)', 'client_and_server'), 'meshMode');
  assert.equal(group('reporting_interval 15s', '15s'), 'meshDuration');
  assert.equal(group('sampling 5%', '5%'), 'meshPercent');
  assert.equal(group('disable_span_reporting false', 'false'), 'meshBoolean');
  assert.equal(group('let escaped', '\\t'), 'meshEscape');
  assert.equal(group('envoy.extensions.filters.http.lua.v3.Lua {', 'envoy.'), 'meshMessageType');
  assert.equal(group('Plain multi-line text', '//'), 'meshTripleString');
  // lua""" blocks hold Lua, highlighted by Vim's own Lua syntax, without errors, and end at """.
  assert.equal(group('function envoy_on_request', 'function'), 'luaFunction');
  assert.equal(group('handle:headers():add("x-lua"', '"x-lua"'), 'luaStringDelimiter');
  const luaErrors = groups.flatMap((line, i) => line.map((g, c) => [g, `${i + 1}:${c + 1}`])).filter(([g]) => /^lua.*Error$/.test(g));
  assert.deepEqual(luaErrors, [], 'no Lua error groups');
  assert.equal(group('let banner', 'let'), 'meshDeclaration');
});
