#!/usr/bin/env node
// Copies the project's TextMate grammar into the extension (syntaxes/, git-ignored):
// grammar/meshc.tmLanguage.json stays the one source of truth, and `vsce package`
// (which runs this as `vscode:prepublish`) can only ship files inside the extension.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const source = path.resolve(__dirname, '..', '..', '..', 'grammar', 'meshc.tmLanguage.json');
const target = path.resolve(__dirname, '..', 'syntaxes', 'meshc.tmLanguage.json');

function copyGrammar() {
  let text;
  try {
    text = fs.readFileSync(source, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the grammar at ${source} (build the extension from the meshc repository): ${error.message}`);
  }
  try {
    JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not valid JSON: ${error.message}`);
  }
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, text);
  return { source, target };
}

module.exports = { copyGrammar, source, target };

if (require.main === module) {
  try {
    const { target: written } = copyGrammar();
    console.log(`copied the grammar to ${path.relative(process.cwd(), written)}`);
  } catch (error) {
    console.error(`copy-grammar: ${error.message}`);
    process.exit(1);
  }
}
