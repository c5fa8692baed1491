#!/usr/bin/env node
// Lets py-solc-x drive solc-js offline. py-solc-x expects a native solc binary: it parses
// `--version` output and exchanges pure JSON over `--standard-json`. solcjs's own CLI prints a
// banner before the JSON, so this wrapper calls the solc-js library directly instead.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const args = process.argv.slice(2);
if (args.includes('--version')) {
  process.stdout.write('solc, the solidity compiler commandline interface\nVersion: ' + solc.version() + '\n');
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write('solc_wrapper.js supports only --version and --standard-json\n');
  process.exit(2);
}

const basePathIndex = args.indexOf('--base-path');
const basePath = basePathIndex >= 0 ? args[basePathIndex + 1] : process.cwd();

function findImports(importPath) {
  const full = path.resolve(basePath, importPath);
  if (!full.startsWith(path.resolve(basePath) + path.sep)) {
    return { error: 'import outside the contracts folder: ' + importPath };
  }
  try {
    return { contents: fs.readFileSync(full, 'utf8') };
  } catch (e) {
    return { error: 'not found: ' + importPath };
  }
}

const input = fs.readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImports }));
