// The TextMate grammar (grammar/meshc.tmLanguage.json) highlights test/sample.mesh
// as test/sample.tokens.txt says. `UPDATE_GOLDEN=1` rewrites the snapshot; review
// its diff like any other change.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const oniguruma = require('vscode-oniguruma');
const { GRAMMAR_PATH, tokenize, formatTokens, meshGrammar } = require('./tokenize');

const SAMPLE = path.join(__dirname, 'sample.mesh');
const SNAPSHOT = path.join(__dirname, 'sample.tokens.txt');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function sampleTokens() {
  return tokenize(fs.readFileSync(SAMPLE, 'utf8'));
}

test('the sample is highlighted as the snapshot says', async () => {
  const actual = formatTokens(await sampleTokens());
  if (UPDATE) {
    fs.writeFileSync(SNAPSHOT, actual);
    return;
  }
  assert.ok(fs.existsSync(SNAPSHOT), `${SNAPSHOT} is missing; run UPDATE_GOLDEN=1 npm test to write it`);
  const expected = fs.readFileSync(SNAPSHOT, 'utf8');
  if (actual === expected) {
    return;
  }
  const actualLines = actual.split('\n');
  const expectedLines = expected.split('\n');
  const differences = [];
  for (let i = 0; i < Math.max(actualLines.length, expectedLines.length) && differences.length < 20; i++) {
    if (actualLines[i] !== expectedLines[i]) {
      differences.push(`snapshot line ${i + 1}:\n  expected: ${expectedLines[i] ?? '(none)'}\n  actual:   ${actualLines[i] ?? '(none)'}`);
    }
  }
  assert.fail(
    `the tokens of test/sample.mesh differ from test/sample.tokens.txt (first differences below); ` +
      `if the change is intended, run UPDATE_GOLDEN=1 npm test and review the diff\n${differences.join('\n')}`,
  );
});

// What the snapshot must keep saying, whatever else changes in it: a blessed
// snapshot could otherwise hide a regression in the constructs that matter most.
test('the constructs of the language get their scopes', async () => {
  const tokens = await sampleTokens();
  const lines = fs.readFileSync(SAMPLE, 'utf8').split('\n');
  /** The token `text` on the first line containing `context` (after line `after`). */
  const find = (context, text, after = 0) => {
    const line = lines.findIndex((l, i) => i >= after && l.includes(context)) + 1;
    assert.ok(line > 0, `the sample has no line containing ${JSON.stringify(context)}`);
    const token = tokens.find((t) => t.line === line && t.text === text);
    assert.ok(token, `no token ${JSON.stringify(text)} on line ${line}: ${lines[line - 1]}`);
    return token;
  };
  const expectScope = (context, text, scope, after) => {
    const token = find(context, text, after);
    assert.ok(
      token.scopes.some((s) => s === scope || s.startsWith(`${scope}.`)),
      `${JSON.stringify(text)} on line ${token.line} has scopes [${token.scopes.join(', ')}], expected ${scope}`,
    );
    return token;
  };
  const expectNoScope = (context, text, scope, after) => {
    const token = find(context, text, after);
    assert.ok(
      !token.scopes.some((s) => s === scope || s.startsWith(`${scope}.`)),
      `${JSON.stringify(text)} on line ${token.line} has scope ${scope}: [${token.scopes.join(', ')}]`,
    );
  };

  // Comments, doc comments, package and imports.
  expectScope('/* A block comment', '/*', 'comment.block');
  expectScope('/// Labels every', ' Labels every resource of the team carries.', 'comment.line.documentation');
  expectScope('package payments', 'package', 'keyword.other');
  expectScope('package payments', 'payments', 'entity.name.namespace');
  expectScope('import std.filters', 'std.filters', 'entity.name.namespace');

  // Declarations, including `proxy` and `smoke`, which are not reserved words.
  expectScope('let team_labels', 'let', 'keyword.declaration');
  expectScope('schema HeaderConfig', 'HeaderConfig', 'entity.name.type');
  expectScope('telemetry custom_metrics', 'custom_metrics', 'entity.name.type');
  expectScope('wasm_plugin custom_header', 'wasm_plugin', 'keyword.declaration');
  expectScope('envoy_filter add_lua', 'envoy_filter', 'keyword.declaration');
  expectScope('proxy my_service for workload', 'proxy', 'keyword.declaration');
  expectScope('proxy my_service for workload', 'my_service', 'entity.name.type');
  expectScope('smoke lua_adds_header', 'smoke', 'keyword.declaration');
  const smokeLine = lines.findIndex((l) => l.startsWith('smoke '));
  expectNoScope('  proxy my_service', 'proxy', 'keyword.declaration', smokeLine);
  expectNoScope('proxy { proxy_version', 'proxy', 'keyword.declaration');

  // Values: strings and escapes, numbers, durations, percentages, booleans, null.
  expectScope('let escaped', '\\t', 'constant.character.escape');
  expectScope('let escaped', '\\u{1F600}', 'constant.character.escape');
  expectScope('let ratio', '-0.5', 'constant.numeric');
  expectScope('let big', '1.5e3', 'constant.numeric');
  expectScope('reporting_interval 15s', '15', 'constant.numeric.duration');
  expectScope('reporting_interval 15s', 's', 'keyword.other.unit');
  expectScope('connect_timeout: 250ms', 'ms', 'constant.numeric.duration');
  expectScope('cleanup_interval: 1.5m', '1.5', 'constant.numeric.duration');
  expectScope('sampling 5%', '5', 'constant.numeric.percentage');
  expectScope('sampling 5%', '%', 'constant.numeric.percentage');
  expectScope('disable_span_reporting false', 'false', 'constant.language');
  expectScope('happy_eyeballs_config: null', 'null', 'constant.language');
  expectScope('REQUEST_COUNT (client_and_server)', 'REQUEST_COUNT', 'constant.other.metric');
  expectScope('REQUEST_COUNT (client_and_server)', 'client_and_server', 'constant.language.mode');
  expectScope('envoy.extensions.filters.http.lua.v3.Lua {', 'envoy.extensions.filters.http.lua.v3.Lua', 'entity.name.type.message');

  // CEL expressions after `tag NAME =` and `when`.
  expectScope('tag request_host = request.host', 'host', 'meta.expression.cel');
  expectScope('access_log envoy when', '>=', 'keyword.operator.comparison');
  expectScope('access_log envoy when', 'in', 'keyword.operator.expression.in');
  expectScope('access_log envoy when', 'HEAD', 'string.quoted.single');
  expectScope('access_log envoy when', 'envoy', 'variable.other.provider');

  // Lua in lua""" blocks is Lua, not a string; the block ends at its closing """.
  const luaFunction = expectScope('function envoy_on_request', 'function', 'keyword.control.lua');
  assert.ok(luaFunction.scopes.includes('meta.embedded.block.lua'));
  assert.ok(!luaFunction.scopes.some((s) => s.startsWith('string.')), `Lua code is scoped as a string: ${luaFunction.scopes}`);
  expectScope('function envoy_on_response', 'function', 'keyword.control.lua');
  const afterLua = lines.findIndex((l) => l.includes('let banner')) + 1;
  assert.ok(tokens.filter((t) => t.line === afterLua).every((t) => !t.scopes.includes('meta.embedded.block.lua')));

  // Plain """ text is a string: no comment or number inside it.
  expectScope('Plain multi-line text', '  Plain multi-line text: // not a comment, 5% not a number.', 'string.quoted.triple');
});

test('every regular expression of the grammar compiles and every include resolves', async () => {
  const grammar = JSON.parse(fs.readFileSync(GRAMMAR_PATH, 'utf8'));
  await meshGrammar(); // loads the Oniguruma WebAssembly module
  const problems = [];
  const visit = (node, where) => {
    if (Array.isArray(node)) {
      node.forEach((child, i) => visit(child, `${where}[${i}]`));
      return;
    }
    if (!node || typeof node !== 'object') {
      return;
    }
    for (const key of ['match', 'begin', 'end', 'while']) {
      if (typeof node[key] === 'string' && !/\\[0-9]/.test(node[key])) {
        try {
          new oniguruma.OnigScanner([node[key]]).dispose();
        } catch (error) {
          problems.push(`${where}.${key}: ${error.message}`);
        }
      }
    }
    if (typeof node.include === 'string' && node.include.startsWith('#') && !(node.include.slice(1) in grammar.repository)) {
      problems.push(`${where}: include ${node.include} is not in the repository`);
    }
    for (const [key, child] of Object.entries(node)) {
      if (typeof child === 'object') {
        visit(child, `${where}.${key}`);
      }
    }
  };
  visit(grammar, 'grammar');
  assert.deepEqual(problems, []);
  assert.equal(grammar.scopeName, 'source.mesh');
});
