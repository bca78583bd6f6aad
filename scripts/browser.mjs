// A scripted browser for the app on loopback, shared by scripts/soak.mjs and
// scripts/bench/signins.mjs: one cookie jar, no automatic redirects, each request to the app
// from the browser's own client address (X-Forwarded-For, for a server that trusts 127.0.0.1
// as its proxy), and the sign-in through the test provider of end2end/provider.
// Node built-ins only.

const STEP_TIMEOUT_MS = 10_000;

export class Browser {
  #cookies = new Map();

  /**
   * @param {string} app the app's origin, e.g. http://127.0.0.1:3000
   * @param {string} ip the client address the app sees
   * @param {(ms: number) => void} [onAppResponse] told how long each request to the app took
   */
  constructor(app, ip, onAppResponse = () => {}) {
    this.app = app;
    this.ip = ip;
    this.onAppResponse = onAppResponse;
  }

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

  /** Takes over another browser's provider cookies: the same provider session, no login form. */
  shareProviderSession(other) {
    for (const [name, value] of other.cookie().split('; ').map((c) => c.split('='))) {
      if (name.startsWith('grimmory_idp')) this.store({ headers: { getSetCookie: () => [`${name}=${value}`] } });
    }
  }

  /** A request; those to the app are timed and come from this browser's address. */
  async send(url, { method = 'GET', headers = {}, body } = {}) {
    const h = new Headers(headers);
    const cookie = this.cookie();
    if (cookie) h.set('cookie', cookie);
    const toApp = url.startsWith(this.app);
    if (toApp) h.set('x-forwarded-for', this.ip);
    const began = performance.now();
    const res = await fetch(url, { method, headers: h, body, redirect: 'manual', signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
    const text = await res.text();
    if (toApp) this.onAppResponse(performance.now() - began);
    this.store(res);
    return { status: res.status, location: res.headers.get('location'), text };
  }
}

export function find(re, text, what) {
  const m = re.exec(text);
  if (!m) throw new Error(`${what}: not found in ${text.replace(/\s+/g, ' ').slice(0, 600)}`);
  return m[1];
}

export function expect(r, status, what) {
  if (r.status !== status) throw new Error(`${what}: HTTP ${r.status} (expected ${status}) ${r.text.slice(0, 200)}`);
  return r;
}

/**
 * Signs in through the provider: authorize, the provider's login form (unless the browser's
 * provider session is still live), consent, and the app's callback, which must start a session
 * and send the browser to `/`.
 */
export async function oidcSignIn(browser, [username, password]) {
  const app = browser.app;
  let r = expect(await browser.send(`${app}/api/v1/auth/oidc/authorize`), 302, 'authorize');
  let url = r.location;
  for (let hop = 0; hop < 12; hop += 1) {
    if (url.startsWith(`${app}/oauth2-callback`)) {
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
