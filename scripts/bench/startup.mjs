#!/usr/bin/env node
// The start-up figure of scripts/bench.sh: from starting the server binary on an already
// migrated database to its first 200 on /healthz, polled every 2 ms, --runs times; each start is
// stopped (SIGTERM) and waited for before the next. The server takes its settings (DATABASE_URL,
// GRIMMORY_SECRET_KEY…) from this process's environment; it binds a free loopback port.
//
//   node scripts/bench/startup.mjs --bin target/release/grimmory [--runs 3]
// Prints: startup runs=N median_ms=X min_ms=Y max_ms=Z
// Node built-ins only.

import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: { bin: { type: 'string' }, runs: { type: 'string', default: '3' } },
  strict: true,
});
const runs = Number(opt.runs);
if (!opt.bin || !Number.isInteger(runs) || runs < 1) {
  console.error('usage: startup.mjs --bin PATH [--runs N]');
  process.exit(2);
}
const TIMEOUT_MS = 30_000;

let child = null;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    child?.kill('SIGTERM');
    process.exit(130);
  });
}

async function healthy(url) {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** One start: ms from spawn to the first 200 on /healthz. */
async function once() {
  const began = performance.now();
  child = spawn(opt.bin, [], {
    env: { ...process.env, GRIMMORY_BIND: '127.0.0.1:0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    let output = '';
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no "listening" line in 30 s')), TIMEOUT_MS);
      child.once('exit', (code) => reject(new Error(`the server ended with ${code}: ${output}`)));
      child.stdout.on('data', (chunk) => {
        output += chunk;
        const m = /grimmory listening on (\S+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    while (!(await healthy(url))) {
      if (performance.now() - began > TIMEOUT_MS) throw new Error('/healthz did not answer 200 in 30 s');
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return performance.now() - began;
  } finally {
    child.kill('SIGTERM');
    await exited;
    child = null;
  }
}

const times = [];
for (let i = 0; i < runs; i += 1) times.push(await once());
times.sort((a, b) => a - b);
console.log(`startup runs=${runs} median_ms=${times[Math.floor(runs / 2)].toFixed(0)} `
  + `min_ms=${times[0].toFixed(0)} max_ms=${times[runs - 1].toFixed(0)}`);
