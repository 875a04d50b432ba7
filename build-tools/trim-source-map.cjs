#!/usr/bin/env node
/*
 * Keeps in a bundle's source map only the mappings into our own sources (lambda/...), so that
 * `--enable-source-maps` parses a small map at every cold start instead of one for the whole AWS
 * SDK. A position in a dependency gets an unmapped segment: its stack frame prints the bundle
 * position (index.js:line:column), never a wrong file of ours.
 *
 * Usage: node build-tools/trim-source-map.cjs <file.js.map> [<file.js.map> ...]
 * The map is the Source Map v3 format (https://tc39.es/source-map/): `mappings` is one group per
 * generated line (`;`), segments separated by `,`, each a run of base64 VLQ numbers: generated
 * column, then optionally source index, original line, original column and name index, every
 * field relative to the previous segment's (the generated column only within its line).
 */
'use strict';
const fs = require('fs');

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DIGIT = new Map([...BASE64].map((c, i) => [c, i]));

function decodeSegment(text) {
  const values = [];
  let value = 0;
  let shift = 0;
  for (const c of text) {
    const digit = DIGIT.get(c);
    if (digit === undefined) throw new Error(`invalid base64 VLQ character ${JSON.stringify(c)} in ${JSON.stringify(text)}`);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  if (shift !== 0) throw new Error(`truncated base64 VLQ segment ${JSON.stringify(text)}`);
  return values;
}

function encodeValue(n) {
  let v = n < 0 ? (-n << 1) | 1 : n << 1;
  let out = '';
  do {
    let digit = v & 31;
    v >>>= 5;
    if (v > 0) digit |= 32;
    out += BASE64[digit];
  } while (v > 0);
  return out;
}

/** Decodes `mappings` into absolute segments per generated line: [column] or [column, source, line, col(, name)]. */
function decodeMappings(mappings) {
  const state = [0, 0, 0, 0];
  return mappings.split(';').map((line) => {
    let column = 0;
    return line === '' ? [] : line.split(',').map((text) => {
      const v = decodeSegment(text);
      column += v[0];
      if (v.length === 1) return [column];
      for (let i = 1; i < v.length; i++) state[i - 1] += v[i];
      return v.length === 4 ? [column, state[0], state[1], state[2]] : [column, state[0], state[1], state[2], state[3]];
    });
  });
}

function encodeMappings(lines) {
  const state = [0, 0, 0, 0];
  return lines.map((segments) => {
    let column = 0;
    return segments.map((s) => {
      let out = encodeValue(s[0] - column);
      column = s[0];
      for (let i = 1; i < s.length; i++) {
        out += encodeValue(s[i] - state[i - 1]);
        state[i - 1] = s[i];
      }
      return out;
    }).join(',');
  }).join(';');
}

/** The map with mappings into sources for which `keep(source)` is true only. */
function trimSourceMap(map, keep) {
  const sourceIndex = new Map();
  const sources = [];
  map.sources.forEach((source, i) => {
    if (keep(source)) {
      sourceIndex.set(i, sources.length);
      sources.push(source);
    }
  });
  const nameIndex = new Map();
  const names = [];
  const lines = decodeMappings(map.mappings).map((segments) => {
    const out = [];
    let mapped = false;
    for (const s of segments) {
      if (s.length > 1 && sourceIndex.has(s[1])) {
        const kept = [s[0], sourceIndex.get(s[1]), s[2], s[3]];
        if (s.length === 5) {
          if (!nameIndex.has(s[4])) {
            nameIndex.set(s[4], names.length);
            names.push(map.names[s[4]]);
          }
          kept.push(nameIndex.get(s[4]));
        }
        out.push(kept);
        mapped = true;
      } else if (mapped) {
        // End the previous mapping here: what follows is not ours.
        out.push([s[0]]);
        mapped = false;
      }
    }
    return out;
  });
  const { sourcesContent, ...rest } = map;
  return { ...rest, sources, names, mappings: encodeMappings(lines) };
}

module.exports = { decodeMappings, encodeMappings, trimSourceMap };

if (require.main === module) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: trim-source-map.cjs <file.js.map> [...]');
    process.exit(2);
  }
  for (const file of files) {
    const map = JSON.parse(fs.readFileSync(file, 'utf8'));
    const trimmed = trimSourceMap(map, (source) => !source.split(/[\\/]/).includes('node_modules'));
    fs.writeFileSync(file, JSON.stringify(trimmed));
  }
}
