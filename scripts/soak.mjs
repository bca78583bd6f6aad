#!/usr/bin/env node
// The traffic of scripts/soak.sh: virtual users on loopback signing in through the test provider,
// calling `me`, rendering pages, signing out of the app, and signing out at the provider (which
// sends back-channel logouts), plus long-lived sessions the server refreshes in the background. Every
// minute: requests, errors, p99 and the server's RSS. Exits 1 on any error or when RSS grew 10 %
// or more after the first minute.
//
//   node scripts/soak.mjs --app URL --pid PID --issuer URL --client-secret S --idp-log FILE
//       [--seconds 600] [--users 4]
// Node built-ins only; the browser and the sign-in are scripts/browser.mjs.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Browser, expect, find, oidcSignIn } from './browser.mjs';

const { values: opt } = parseArgs({
  options: {
    app: { type: 'string' },
    pid: { type: 'string' },
    issuer: { type: 'string' },
    'client-secret': { type: 'string' },
    'idp-log': { type: 'string' },
    seconds: { type: 'string', default: '600' },
    users: { type: 'string', default: '4' },
  },
  strict: true,
});
for (const name of ['app', 'pid', 'issuer', 'client-secret', 'idp-log']) {
  if (!opt[name]) {
    console.error(`soak.mjs: --${name} is required`);
    process.exit(2);
  }
}
const APP = opt.app;
const SECONDS = Number(opt.seconds);
const USERS = Number(opt.users);
const ACCOUNTS = [['alice', 'alice-password'], ['bob', 'bob-password'], ['carol', 'carol-password'], ['dave', 'dave-password']];

// ---------------------------------------------------------------- measurements
let window = { requests: 0, errors: 0, latencies: [] };
const total = { requests: 0, errors: 0 };
const errorSamples = [];

function recordError(what) {
  window.errors += 1;
  total.errors += 1;
  if (errorSamples.length < 10) errorSamples.push(what);
}

function rssKb() {
  const status = readFileSync(`/proc/${opt.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

function idpCount(pattern) {
  return readFileSync(opt['idp-log'], 'utf8').split('\n').filter((l) => l.includes(pattern)).length;
}

/** A browser whose requests to the app count in the figures. */
function browserAt(ip) {
  return new Browser(APP, ip, (ms) => {
    window.requests += 1;
    total.requests += 1;
    window.latencies.push(ms);
  });
}

function p99(latencies) {
  if (latencies.length === 0) return 0;
  const sorted = [...latencies].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))];
}

/** Signs out of the app: its session ends at once (the provider's end-session page it answers
 * with is not visited: the provider session lives on for the other device). */
async function signOut(browser) {
  expect(await browser.send(`${APP}/api/v1/auth/logout`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
  }), 200, 'logout');
  expect(await browser.send(`${APP}/api/v1/auth/me`), 401, 'me after logout');
}

/** Signs out at the provider (as from another tab): the provider then sends back-channel
 * logouts for the app sessions of its session. */
async function providerSignOut(browser) {
  const endSession = `${opt.issuer}session/end`;
  const page = expect(await browser.send(endSession), 200, 'end session page');
  const action = new URL(find(/<form[^>]* method="post" action="([^"]+)"/, page.text, 'end session form'), endSession).href;
  const fields = Object.fromEntries([...page.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/?>/g)].map((m) => [m[1], m[2]]));
  expect(await browser.send(action, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields),
  }), 303, 'end session');
}

async function userRound(n) {
  const account = ACCOUNTS[n % ACCOUNTS.length];
  // A fresh address per round keeps each under the per-client sign-in limit.
  const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  const laptop = browserAt(ip);
  await oidcSignIn(laptop, account);
  for (const path of ['/api/v1/auth/me', '/', '/profile', '/api/v1/auth/me']) {
    expect(await laptop.send(`${APP}${path}`), 200, path);
  }
  // The same person on a second device of the same provider session (its cookies, no form).
  const phone = browserAt(ip);
  phone.shareProviderSession(laptop);
  await oidcSignIn(phone, account);
  expect(await phone.send(`${APP}/api/v1/auth/me`), 200, 'me on the second device');
  await signOut(laptop);
  expect(await phone.send(`${APP}/api/v1/auth/me`), 200, 'the second device after the first signed out');
  await providerSignOut(phone);
  // The provider's back-channel logout ended the second device's session.
  expect(await phone.send(`${APP}/api/v1/auth/me`), 401, 'me after the back-channel logout');
}

// ---------------------------------------------------------------- run
const deadline = Date.now() + SECONDS * 1000;
let round = 0;

async function user(id) {
  // A long-lived session per user: short provider access tokens make the server refresh it.
  const keeper = browserAt(`10.255.0.${id + 1}`);
  await oidcSignIn(keeper, ACCOUNTS[id % ACCOUNTS.length]);
  while (Date.now() < deadline) {
    try {
      await userRound(round += 1);
      expect(await keeper.send(`${APP}/api/v1/auth/me`), 200, 'long-lived session');
    } catch (err) {
      recordError(err.message);
    }
  }
}

const started = Date.now();
const rssAtStart = rssKb();
const rssByMinute = [];
let minute = 0;
console.log(`soak: ${SECONDS} s, ${USERS} users, server pid ${opt.pid}, RSS at start ${(rssAtStart / 1024).toFixed(1)} MiB`);
console.log('minute  requests  errors  p99_ms  rss_mib  refreshes  backchannel');
const report = () => {
  minute += 1;
  const rss = rssKb();
  rssByMinute.push(rss);
  console.log([
    String(minute).padStart(6),
    String(window.requests).padStart(9),
    String(window.errors).padStart(7),
    p99(window.latencies).toFixed(1).padStart(7),
    (rss / 1024).toFixed(1).padStart(8),
    String(idpCount('grant.success refresh_token')).padStart(10),
    String(idpCount('backchannel.success')).padStart(12),
  ].join(' '));
  window = { requests: 0, errors: 0, latencies: [] };
};
const ticker = setInterval(report, 60_000);
await Promise.all(Array.from({ length: USERS }, (_, id) => user(id)));
clearInterval(ticker);
if (window.requests > 0 || minute === 0) report();

const first = rssByMinute[0];
const last = rssByMinute[rssByMinute.length - 1];
const growth = ((last - first) / first) * 100;
console.log(`\ntotal: ${total.requests} requests in ${((Date.now() - started) / 1000).toFixed(0)} s, ${total.errors} errors; `
  + `RSS ${(first / 1024).toFixed(1)} MiB after the first minute, ${(last / 1024).toFixed(1)} MiB at the end (${growth >= 0 ? '+' : ''}${growth.toFixed(1)} %); `
  + `${idpCount('grant.success refresh_token')} refreshes, ${idpCount('backchannel.success')} back-channel logouts, `
  + `${idpCount('backchannel.error')} failed back-channel logouts`);
for (const sample of errorSamples) console.log(`  error: ${sample}`);
const failed = total.errors > 0 || idpCount('backchannel.error') > 0 || growth >= 10;
console.log(failed ? 'FAIL' : 'PASS');
process.exit(failed ? 1 : 0);
