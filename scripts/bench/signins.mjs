#!/usr/bin/env node
// The sign-in figure of scripts/bench.sh: server CPU per full OIDC sign-in (authorize → the
// test provider → callback → session), from the server's utime + stime in /proc/<pid>/stat
// over --count sign-ins, each from its own client address (the server must trust 127.0.0.1 as
// its proxy, so the per-address limits stay on and are never hit). One sign-in first, not
// counted, so the provider's discovery and keys are cached as in steady use; every browser
// then shares its provider session, so the provider skips its login form, which is not the
// server's work.
//
//   node scripts/bench/signins.mjs --app URL --pid PID [--count 200] [--parallel 4]
// Prints: signins count=N cpu_ms=X wall_s=Y
// Node built-ins only; the browser and the sign-in are scripts/browser.mjs.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Browser, oidcSignIn } from '../browser.mjs';

const { values: opt } = parseArgs({
  options: {
    app: { type: 'string' },
    pid: { type: 'string' },
    count: { type: 'string', default: '200' },
    parallel: { type: 'string', default: '4' },
  },
  strict: true,
});
const count = Number(opt.count);
const parallel = Number(opt.parallel);
if (!opt.app || !opt.pid || !Number.isInteger(count) || count < 1 || !Number.isInteger(parallel) || parallel < 1) {
  console.error('usage: signins.mjs --app URL --pid PID [--count N] [--parallel N]');
  process.exit(2);
}
const ACCOUNT = ['alice', 'alice-password'];
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/** The server's CPU time so far, in ms (fields 14 and 15 of /proc/<pid>/stat, after the
 * command name, which may hold spaces, in parentheses). */
function cpuMs() {
  const stat = readFileSync(`/proc/${opt.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** A client address of its own for sign-in n. */
const addressOf = (n) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

async function signIn(first, n) {
  const browser = new Browser(opt.app, addressOf(n));
  browser.shareProviderSession(first);
  await oidcSignIn(browser, ACCOUNT);
  if (!browser.has('grimmory_session')) throw new Error(`sign-in ${n}: no session cookie`);
}

const first = new Browser(opt.app, addressOf(0));
await oidcSignIn(first, ACCOUNT);

const cpuBefore = cpuMs();
const began = performance.now();
let next = 1;
await Promise.all(Array.from({ length: parallel }, async () => {
  while (next <= count) {
    const n = next;
    next += 1;
    await signIn(first, n);
  }
}));
const wall = (performance.now() - began) / 1000;
const cpu = (cpuMs() - cpuBefore) / count;
console.log(`signins count=${count} cpu_ms=${cpu.toFixed(2)} wall_s=${wall.toFixed(1)}`);
