#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm ci` through the `prepare` script).
import { boundHeapGrowth } from '../dist/cli/heap.js';
import { main } from '../dist/cli/main.js';

boundHeapGrowth();
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err); process.exitCode = 1; },
);
