// Tokenizes meshc source with the project's TextMate grammar, as VS Code does:
// vscode-textmate over the Oniguruma regex engine compiled to WebAssembly, with
// `source.lua` (VS Code's own Lua grammar, from tm-grammars) for `lua"""` blocks.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

/** The one source of truth: the extension ships a copy made at build time. */
const GRAMMAR_PATH = path.resolve(__dirname, '..', '..', '..', 'grammar', 'meshc.tmLanguage.json');

const EMBEDDED = {
  'source.lua': () => require.resolve('tm-grammars/grammars/lua.json'),
};

let registryPromise;

function registry() {
  if (!registryPromise) {
    const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
    const onigLib = oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength)).then(() => ({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }));
    registryPromise = Promise.resolve(
      new vsctm.Registry({
        onigLib,
        loadGrammar: async (scopeName) => {
          let file;
          if (scopeName === 'source.mesh') {
            file = GRAMMAR_PATH;
          } else if (EMBEDDED[scopeName]) {
            file = EMBEDDED[scopeName]();
          } else {
            return null;
          }
          return vsctm.parseRawGrammar(fs.readFileSync(file, 'utf8'), file);
        },
      }),
    );
  }
  return registryPromise;
}

/** The grammar of `source.mesh`, with the grammars it embeds loaded. */
async function meshGrammar() {
  const grammar = await (await registry()).loadGrammar('source.mesh');
  if (!grammar) {
    throw new Error(`could not load ${GRAMMAR_PATH}`);
  }
  return grammar;
}

/**
 * Every token of `text`: { line, column (both one-based), text, scopes }, where
 * `scopes` is the stack of scope names without the root `source.mesh`.
 */
async function tokenize(text) {
  const grammar = await meshGrammar();
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') {
    lines.pop();
  }
  const tokens = [];
  let stack = vsctm.INITIAL;
  lines.forEach((line, index) => {
    const result = grammar.tokenizeLine(line, stack);
    for (const token of result.tokens) {
      const endIndex = Math.min(token.endIndex, line.length);
      if (endIndex <= token.startIndex) {
        continue;
      }
      tokens.push({
        line: index + 1,
        column: token.startIndex + 1,
        text: line.slice(token.startIndex, endIndex),
        scopes: token.scopes.filter((scope) => scope !== 'source.mesh'),
      });
    }
    stack = result.ruleStack;
  });
  return tokens;
}

/**
 * The snapshot format: one line per token that is not only blanks,
 * `LINE:COL "text" scope scope...`, the text as a JSON string.
 */
function formatTokens(tokens) {
  return tokens
    .filter((token) => token.text.trim() !== '')
    .map((token) => `${token.line}:${token.column} ${JSON.stringify(token.text)} ${token.scopes.join(' ')}`.trimEnd())
    .map((line) => `${line}\n`)
    .join('');
}

module.exports = { GRAMMAR_PATH, tokenize, formatTokens, meshGrammar };
