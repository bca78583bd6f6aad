#!/usr/bin/env node
// The traffic of scripts/soak.sh: virtual users on loopback signing in through the test provider,
// calling `me`, rendering pages, signing out of the app, and signing out at the provider (which
// sends back-channel logouts), plus long-lived sessions the server refreshes in the background. Every
// minute: requests, errors, p99 and the server's RSS. Exits 1 on any error or when RSS grew 10 %
// or more after the first minute.
//
//   node scripts/soak.mjs --app URL --pid PID --issuer URL --client-secret S --idp-log FILE
//       [--seconds 600] [--users 4]
// Node built-ins only.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

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
const STEP_TIMEOUT_MS = 10_000;
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

function p99(latencies) {
  if (latencies.length === 0) return 0;
  const sorted = [...latencies].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))];
}

// ---------------------------------------------------------------- a browser: cookies, no redirects
class Browser {
  #cookies = new Map();

  constructor(ip) { this.ip = ip; }

  store(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const gone = value === '' || attrs.some((a) => /^max-age=0$/i.test(a));
      if (gone) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  cookie() { return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; '); }

  has(name) { return this.#cookies.has(name); }

  /** A request; those to the app are measured and come from this browser's address. */
  async send(url, { method = 'GET', headers = {}, body } = {}) {
    const h = new Headers(headers);
    const cookie = this.cookie();
    if (cookie) h.set('cookie', cookie);
    const toApp = url.startsWith(APP);
    if (toApp) h.set('x-forwarded-for', this.ip);
    const began = performance.now();
    const res = await fetch(url, { method, headers: h, body, redirect: 'manual', signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
    const text = await res.text();
    if (toApp) {
      window.requests += 1;
      total.requests += 1;
      window.latencies.push(performance.now() - began);
    }
    this.store(res);
    return { status: res.status, location: res.headers.get('location'), text };
  }
}

function find(re, text, what) {
  const m = re.exec(text);
  if (!m) throw new Error(`${what}: not found in ${text.replace(/\s+/g, " ").slice(0, 600)}`);
  return m[1];
}

function expect(r, status, what) {
  if (r.status !== status) throw new Error(`${what}: HTTP ${r.status} (expected ${status}) ${r.text.slice(0, 200)}`);
  return r;
}

// ---------------------------------------------------------------- one user's steps
/** Signs in through the provider (its login form unless the provider session is still live). */
async function oidcSignIn(browser, [username, password]) {
  let r = expect(await browser.send(`${APP}/api/v1/auth/oidc/authorize`), 302, 'authorize');
  let url = r.location;
  for (let hop = 0; hop < 12; hop += 1) {
    if (url.startsWith(`${APP}/oauth2-callback`)) {
      r = expect(await browser.send(url), 303, 'callback');
      if (r.location !== '/') throw new Error(`callback: sent to ${r.location}`);
      return;
    }
    r = await browser.send(url);
    if (r.status === 200 && url.includes('/interaction/')) {
      const action = new URL(find(/<form method="post" action="([^"]+)"/, r.text, 'login form'), url).href;
      r = expect(await browser.send(action, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ login: username, password }),
      }), 303, 'provider login');
    } else if (r.status !== 302 && r.status !== 303) {
      throw new Error(`provider: HTTP ${r.status} at ${url}`);
    }
    url = new URL(r.location, url).href;
  }
  throw new Error('sign-in: too many redirects');
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
  const laptop = new Browser(ip);
  await oidcSignIn(laptop, account);
  for (const path of ['/api/v1/auth/me', '/', '/profile', '/api/v1/auth/me']) {
    expect(await laptop.send(`${APP}${path}`), 200, path);
  }
  // The same person on a second device of the same provider session (its cookies, no form).
  const phone = new Browser(ip);
  for (const [name, value] of laptop.cookie().split('; ').map((c) => c.split('='))) {
    if (name.startsWith('grimmory_idp')) phone.store({ headers: { getSetCookie: () => [`${name}=${value}`] } });
  }
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
  const keeper = new Browser(`10.255.0.${id + 1}`);
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
