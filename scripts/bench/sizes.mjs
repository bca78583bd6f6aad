#!/usr/bin/env node
// The download figure of scripts/bench.sh: for each page, the JS, WASM and CSS its HTML
// references (script and link tags, and the hydration script's import of the WASM), as served,
// raw and gzip-compressed (level 6, as a reverse proxy would typically send it); then every
// page's files together, each counted once. The HTML itself is not counted.
//
//   node scripts/bench/sizes.mjs --app URL --cookie 'grimmory_session=...'
// Prints one line per page: size page=NAME files=N raw=BYTES gzip=BYTES
// Node built-ins only.

import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const { values: opt } = parseArgs({
  options: { app: { type: 'string' }, cookie: { type: 'string' } },
  strict: true,
});
if (!opt.app || !opt.cookie) {
  console.error('usage: sizes.mjs --app URL --cookie NAME=VALUE');
  process.exit(2);
}

const PAGES = [
  ['login', '/login', false],
  ['dashboard', '/', true],
  ['oidc-settings', '/settings/oidc', true],
];
const ASSET = /["'(](\/pkg\/[^"')\s]+\.(?:js|wasm|css))/g;

async function get(path, signedIn) {
  const headers = signedIn ? { cookie: opt.cookie } : {};
  const res = await fetch(`${opt.app}${path}`, { headers, redirect: 'manual' });
  if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

const sizes = new Map();
async function sizeOf(asset) {
  if (!sizes.has(asset)) {
    const body = await get(asset, false);
    sizes.set(asset, { raw: body.length, gzip: gzipSync(body, { level: 6 }).length });
  }
  return sizes.get(asset);
}

function line(name, assets) {
  let raw = 0;
  let gzip = 0;
  for (const asset of assets) {
    raw += sizes.get(asset).raw;
    gzip += sizes.get(asset).gzip;
  }
  console.log(`size page=${name} files=${assets.size} raw=${raw} gzip=${gzip}`);
}

const all = new Set();
for (const [name, path, signedIn] of PAGES) {
  const html = (await get(path, signedIn)).toString('utf8');
  const assets = new Set([...html.matchAll(ASSET)].map((m) => m[1]));
  if (![...assets].some((a) => a.endsWith('.wasm'))) throw new Error(`${path}: no WASM referenced`);
  for (const asset of assets) {
    await sizeOf(asset);
    all.add(asset);
  }
  line(name, assets);
}
line('all', all);
