// The extension's manifest and language configuration, and the .vsix that
// `npm run package` builds from them.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { GRAMMAR_PATH } = require('./tokenize');

const ROOT = path.resolve(__dirname, '..');
const manifest = require('../package.json');

test('the manifest contributes the mesh language, its grammar and the settings the client reads', () => {
  const [language] = manifest.contributes.languages;
  assert.equal(language.id, 'mesh');
  assert.deepEqual(language.extensions, ['.mesh']);
  assert.ok(fs.existsSync(path.join(ROOT, language.configuration)));

  const [grammar] = manifest.contributes.grammars;
  assert.equal(grammar.language, 'mesh');
  assert.equal(grammar.scopeName, JSON.parse(fs.readFileSync(GRAMMAR_PATH, 'utf8')).scopeName);
  assert.equal(path.normalize(grammar.path), path.normalize('./syntaxes/meshc.tmLanguage.json'));
  assert.equal(grammar.embeddedLanguages['meta.embedded.block.lua'], 'lua');

  const settings = manifest.contributes.configuration.properties;
  assert.equal(settings['meshc.server.path'].default, 'meshc');
  assert.deepEqual(settings['meshc.server.args'].default, []);
  assert.deepEqual(settings['meshc.trace.server'].enum, ['off', 'messages', 'verbose']);
  assert.ok(manifest.activationEvents.includes('onLanguage:mesh'));
  assert.equal(manifest.main, './src/extension.js');

  // The language client must support the VS Code versions the extension claims.
  const client = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'vscode-languageclient', 'package.json'), 'utf8'));
  assert.equal(manifest.engines.vscode, client.engines.vscode, 'engines.vscode follows vscode-languageclient');
});

test('the language configuration has comments, brackets, auto-closing quotes and brace folding', () => {
  const config = JSON.parse(fs.readFileSync(path.join(ROOT, 'language-configuration.json'), 'utf8'));
  assert.deepEqual(config.comments, { lineComment: '//', blockComment: ['/*', '*/'] });
  assert.deepEqual(config.brackets, [['{', '}'], ['[', ']'], ['(', ')']]);
  const opens = config.autoClosingPairs.map((pair) => pair.open);
  for (const open of ['{', '[', '(', '"', '"""']) {
    assert.ok(opens.includes(open), `auto-closes ${open}`);
  }
  const start = new RegExp(config.folding.markers.start);
  const end = new RegExp(config.folding.markers.end);
  assert.ok(start.test('telemetry t mesh {'));
  assert.ok(start.test('  labels [ // the labels'));
  assert.ok(!start.test('  config X { a: 1 }'));
  assert.ok(end.test('  }'));
  assert.ok(start.test('// #region metrics') && end.test('// #endregion'));
  const word = new RegExp(`^(?:${config.wordPattern})$`);
  for (const w of ['otel-als', 'custom_metrics', '250ms', '5%', '-1']) {
    assert.ok(word.test(w), `${w} is one word`);
  }
  assert.ok(!word.test('request.host'));
});

test('the build copies the grammar unchanged', () => {
  const { copyGrammar, target } = require('../scripts/copy-grammar');
  copyGrammar();
  assert.equal(fs.readFileSync(target, 'utf8'), fs.readFileSync(GRAMMAR_PATH, 'utf8'));
});

/** The entries of a .zip file: name -> contents. */
function readZip(file) {
  const zip = fs.readFileSync(file);
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, `${file} is not a zip file`);
  const count = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  const entries = new Map();
  for (let i = 0; i < count; i++) {
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localHeader = zip.readUInt32LE(offset + 42);
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    const dataStart = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    entries.set(name, () => (method === 8 ? zlib.inflateRawSync(data) : Buffer.from(data)));
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

test('npm run package builds a .vsix with the grammar, the client and its dependencies', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'meshc-vsix-'));
  const vsix = path.join(out, 'meshc.vsix');
  const vsce = require.resolve('@vscode/vsce/vsce');
  // The same command as `npm run package`, with the output in a temporary folder.
  const script = manifest.scripts.package;
  assert.match(script, /^vsce package /);
  const args = script.split(/\s+/).slice(1);
  execFileSync(process.execPath, [vsce, ...args, '--out', vsix], { cwd: ROOT, stdio: 'pipe' });

  const entries = readZip(vsix);
  for (const name of [
    'extension/package.json',
    'extension/language-configuration.json',
    'extension/syntaxes/meshc.tmLanguage.json',
    'extension/src/extension.js',
    'extension/src/server.js',
    'extension/node_modules/vscode-languageclient/package.json',
    'extension/node_modules/vscode-jsonrpc/package.json',
  ]) {
    assert.ok(entries.has(name), `the .vsix holds ${name}`);
  }
  for (const name of entries.keys()) {
    assert.ok(!name.startsWith('extension/test/') && !name.includes('/@vscode/vsce/') && !name.includes('/vscode-textmate/'), `the .vsix leaves out ${name}`);
  }
  assert.equal(entries.get('extension/syntaxes/meshc.tmLanguage.json')().toString('utf8'), fs.readFileSync(GRAMMAR_PATH, 'utf8'));
  const packaged = JSON.parse(entries.get('extension/package.json')().toString('utf8'));
  assert.equal(packaged.name, 'meshc');
  assert.equal(packaged.version, manifest.version);
  fs.rmSync(out, { recursive: true, force: true });
});
