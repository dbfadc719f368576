// The gpt-3-encoder package's JavaScript encoder on the same text, for
// tokenize_vs_js.sh. Each repetition loads the module afresh, so its piece cache starts
// cold, as HookScope's does in each encode call. Prints one JSON line per repetition.
//
// With `lines`, the text is encoded one line at a time (each with its newline): the
// package appends each piece's ids with Array.concat, so one call over megabytes of
// text takes time quadratic in its length (0.04 MB/s on 200 KB, 0.01 MB/s on 800 KB).
//
// usage: node js_encode.js PACKAGE_DIR TEXT_FILE [REPS] [lines]
'use strict';
const fs = require('fs');
const path = require('path');

const [packageDir, textFile, repsText, mode] = process.argv.slice(2);
if (!packageDir || !textFile) {
  console.error('usage: node js_encode.js PACKAGE_DIR TEXT_FILE [REPS] [lines]');
  process.exit(2);
}
const text = fs.readFileSync(textFile, 'utf8');
const bytes = Buffer.byteLength(text, 'utf8');
const chunks = mode === 'lines' ? text.match(/[^\n]*\n|[^\n]+$/g) || [] : [text];
const reps = Math.max(1, parseInt(repsText || '1', 10));
const entry = require.resolve(path.resolve(packageDir));

function checksum(ids) { // FNV-1a over 32-bit ids, as bench_tokenize computes it
  let hash = 2166136261;
  for (const id of ids) {
    hash = (hash ^ id) >>> 0;
    hash = Math.imul(hash, 16777619) >>> 0;
  }
  return hash;
}

for (let r = 0; r < reps; ++r) {
  for (const key of Object.keys(require.cache)) {
    if (key.startsWith(path.dirname(entry))) delete require.cache[key];
  }
  const { encode } = require(entry); // loading (the vocabulary) is not timed
  const start = process.hrtime.bigint();
  let ids = [];
  for (const chunk of chunks) {
    const chunkIds = encode(chunk);
    for (const id of chunkIds) ids.push(id);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ encoder: 'gpt-3-encoder', mb_per_s: bytes / 1e6 / seconds, tokens: ids.length,
                               checksum: checksum(ids) }));
}
