#!/usr/bin/env node
// Browser-less end-to-end check of the test OpenID Provider. Exits non-zero on any failure.
//   cd end2end && node provider/smoke.mjs
//   SMOKE_SIGNING_ALG=ES256 node provider/smoke.mjs   (the same against ES256 keys)

import { createHash, createPublicKey, randomBytes, verify as cryptoVerify } from 'node:crypto';
import http from 'node:http';

import { startProvider, ACCOUNTS, SCOPES } from './provider.mjs';

const STEP_TIMEOUT_MS = 5000;
const ALG = process.env.SMOKE_SIGNING_ALG || 'RS256';
const watchdog = setTimeout(() => {
  console.error('FAIL: smoke test took longer than 60 s');
  process.exit(1);
}, 60_000);
watchdog.unref();

let checks = 0;
function ok(condition, what, detail) {
  if (!condition) {
    const err = new Error(`${what}${detail === undefined ? '' : ` — got: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`}`);
    err.isCheck = true;
    throw err;
  }
  checks += 1;
  console.log(`  ok  ${what}`);
}
const section = (title) => console.log(`\n# ${title}`);

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const rand = () => b64url(randomBytes(32));

// ---------------------------------------------------------------- the relying party's listener
const backchannel = [];
const rp = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks).toString('utf8');
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/api/v1/auth/oidc/backchannel-logout' && req.method === 'POST') {
    backchannel.push({ contentType: req.headers['content-type'], form: new URLSearchParams(body) });
    res.writeHead(200, { 'cache-control': 'no-store' });
    return res.end();
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  return res.end('rp');
});
await new Promise((resolve) => rp.listen(0, '127.0.0.1', resolve));
const rpOrigin = `http://127.0.0.1:${rp.address().port}`;
const REDIRECT_URI = `${rpOrigin}/oauth2-callback`;
const POST_LOGOUT_URI = `${rpOrigin}/login?signedOut=1`;
const BACKCHANNEL_URI = `${rpOrigin}/api/v1/auth/oidc/backchannel-logout`;

// ---------------------------------------------------------------- fetch with a cookie jar
class CookieJar {
  #cookies = new Map(); // name -> { value, path }

  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = value === '';
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
        if (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      const key = `${name}\u0000${path}`;
      if (expired) this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, path });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    return [...this.#cookies.values()]
      .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`).join('; ');
  }

  names() { return [...this.#cookies.values()].map((c) => c.name); }
}

const jar = new CookieJar();
async function http1(url, { method = 'GET', headers = {}, body, useJar = true } = {}) {
  const h = new Headers(headers);
  if (useJar) {
    const cookie = jar.header(url);
    if (cookie) h.set('cookie', cookie);
  }
  const res = await fetch(url, {
    method, headers: h, body, redirect: 'manual', signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  if (useJar) jar.store(res);
  return res;
}
const form = (obj) => new URLSearchParams(obj);
const locationOf = (res, base) => new URL(res.headers.get('location'), base).href;

function decodeJwt(jwt) {
  const [h, p, s] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url')),
    payload: JSON.parse(Buffer.from(p, 'base64url')),
    signingInput: `${h}.${p}`,
    signature: Buffer.from(s, 'base64url'),
  };
}

// ---------------------------------------------------------------- start
const idp = await startProvider({
  redirectUris: [REDIRECT_URI],
  postLogoutRedirectUris: [POST_LOGOUT_URI],
  backchannelLogoutUri: BACKCHANNEL_URI,
  signingAlg: ALG,
});
const { issuer } = idp;
const { public: pub, confidential: conf } = idp.clients;
let exitCode = 0;

try {
  section(`provider started: ${issuer} (RP listener ${rpOrigin})`);
  ok(issuer === `http://127.0.0.1:${idp.port}/application/o/grimmory/`, 'issuer has the Authentik shape with a trailing slash', issuer);

  // ------------------------------------------------------------ discovery
  section('discovery');
  const discRes = await http1(`${issuer}.well-known/openid-configuration`, { useJar: false });
  ok(discRes.status === 200, 'GET <issuer>.well-known/openid-configuration → 200', discRes.status);
  const disc = await discRes.json();
  ok(disc.issuer === issuer, 'discovery issuer is exactly the issuer (trailing slash kept)', disc.issuer);
  for (const key of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'end_session_endpoint', 'revocation_endpoint']) {
    ok(typeof disc[key] === 'string' && disc[key].startsWith(issuer), `${key} lives under the issuer path`, disc[key]);
  }
  ok(disc.backchannel_logout_supported === true, 'backchannel_logout_supported is true');
  ok(disc.backchannel_logout_session_supported === true, 'backchannel_logout_session_supported is true');
  ok(disc.code_challenge_methods_supported?.includes('S256'), 'code_challenge_methods_supported includes S256', disc.code_challenge_methods_supported);
  ok(SCOPES.every((s) => disc.scopes_supported?.includes(s)), `scopes_supported includes ${SCOPES.join(' ')}`, disc.scopes_supported);
  ok(disc.id_token_signing_alg_values_supported?.includes(ALG), `ID tokens signed with ${ALG}`, disc.id_token_signing_alg_values_supported);
  const outside = await http1(`http://127.0.0.1:${idp.port}/.well-known/openid-configuration`, { useJar: false });
  ok(outside.status === 404, 'requests outside the issuer path → 404', outside.status);

  const jwks = await (await http1(disc.jwks_uri, { useJar: false })).json();
  ok(Array.isArray(jwks.keys) && jwks.keys.length > 0 && jwks.keys.every((k) => !k.d), 'jwks_uri serves public keys only');

  function checkSignature(jwt, what) {
    const { header, signingInput, signature } = decodeJwt(jwt);
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    ok(jwk && header.alg === ALG, `${what}: ${ALG} with a kid from jwks_uri`, header);
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    const valid = cryptoVerify('sha256', Buffer.from(signingInput), ALG === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key, signature);
    ok(valid, `${what}: signature verifies against jwks_uri`);
  }

  // ------------------------------------------------------------ authorization helper
  async function authorize({ clientId, extra = {}, login, expectLoginForm = true, pkce = true }) {
    const state = rand();
    const nonce = rand();
    const verifier = rand();
    const params = {
      client_id: clientId,
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: SCOPES.join(' '),
      state,
      nonce,
      ...(pkce ? { code_challenge: b64url(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256' } : {}),
      ...extra,
    };
    let url = `${disc.authorization_endpoint}?${form(params)}`;
    let sawLoginForm = false;
    for (let hop = 0; hop < 12; hop += 1) {
      if (url.startsWith(REDIRECT_URI)) {
        const cb = new URL(url);
        ok(cb.searchParams.get('state') === state, `${clientId}: callback carries our state`);
        ok(cb.searchParams.get('iss') === issuer, `${clientId}: callback carries iss = issuer (RFC 9207)`, cb.searchParams.get('iss'));
        ok(!cb.searchParams.get('error'), `${clientId}: no error in callback`, cb.search);
        ok(sawLoginForm === expectLoginForm, `${clientId}: login form ${expectLoginForm ? 'was shown' : 'was skipped (existing IdP session)'}`);
        return { code: cb.searchParams.get('code'), verifier, nonce, state };
      }
      const res = await http1(url);
      if (res.status === 200 && url.includes('/interaction/')) {
        const html = await res.text();
        sawLoginForm = true;
        ok(/<label for="login">Username<\/label>/.test(html) && /name="login"/.test(html), 'login form: "Username" label, input name="login"');
        ok(/<label for="password">Password<\/label>/.test(html) && /name="password"/.test(html), 'login form: "Password" label, input name="password"');
        ok(/<button type="submit">Sign in<\/button>/.test(html), 'login form: "Sign in" button');
        const action = new URL(/<form method="post" action="([^"]+)"/.exec(html)[1], url).href;
        if (login.wrongPasswordFirst) {
          const bad = await http1(action, { method: 'POST', body: form({ login: login.username, password: 'wrong-password' }) });
          const badHtml = await bad.text();
          ok(bad.status === 200 && badHtml.includes('Invalid username or password'), 'wrong password → form again with "Invalid username or password"', bad.status);
          const unknown = await http1(action, { method: 'POST', body: form({ login: 'mallory', password: 'x' }) });
          ok((await unknown.text()).includes('Invalid username or password'), 'unknown user → "Invalid username or password"');
        }
        const good = await http1(action, { method: 'POST', body: form({ login: login.username, password: login.password }) });
        ok(good.status === 303, `${clientId}: correct password for ${login.username} → 303`, good.status);
        url = locationOf(good, action);
        continue;
      }
      if (res.status === 302 || res.status === 303) {
        await res.arrayBuffer();
        url = locationOf(res, url);
        continue;
      }
      throw new Error(`unexpected ${res.status} at ${url}: ${(await res.text()).slice(0, 500)}`);
    }
    throw new Error('too many redirects in the authorization flow');
  }

  async function token(params, { basic } = {}) {
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    if (basic) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(basic[0])}:${encodeURIComponent(basic[1])}`).toString('base64')}`;
    const res = await http1(disc.token_endpoint, { method: 'POST', headers, body: form(params), useJar: false });
    return { status: res.status, body: await res.json() };
  }

  function checkIdToken(idToken, { clientId, nonce, account, what }) {
    checkSignature(idToken, what);
    const { payload } = decodeJwt(idToken);
    ok(payload.iss === issuer, `${what}: iss = issuer`, payload.iss);
    ok(payload.aud === clientId || (Array.isArray(payload.aud) && payload.aud.includes(clientId)), `${what}: aud = ${clientId}`, payload.aud);
    if (nonce !== undefined) ok(payload.nonce === nonce, `${what}: nonce echoed`, payload.nonce);
    ok(payload.sub === account.sub && payload.sub !== account.username && /^[0-9a-f]{64}$/.test(payload.sub), `${what}: sub is the stable opaque id`, payload.sub);
    ok(payload.preferred_username === account.username, `${what}: preferred_username = ${account.username}`, payload.preferred_username);
    ok(payload.name === account.name, `${what}: name = ${account.name}`, payload.name);
    ok(payload.email === account.email && payload.email_verified === true, `${what}: email + email_verified`, [payload.email, payload.email_verified]);
    ok(JSON.stringify(payload.groups) === JSON.stringify(account.groups), `${what}: groups = ${JSON.stringify(account.groups)}`, payload.groups);
    ok(typeof payload.sid === 'string' && payload.sid.length > 0, `${what}: sid present (back-channel logout session required)`);
    return payload;
  }

  const alice = ACCOUNTS.alice;

  // ------------------------------------------------------------ PKCE is required for the public client
  section('public client: PKCE required');
  {
    const res = await http1(`${disc.authorization_endpoint}?${form({
      client_id: pub.clientId, response_type: 'code', redirect_uri: REDIRECT_URI, scope: 'openid', state: 's',
    })}`, { useJar: false });
    const loc = new URL(res.headers.get('location') ?? 'http://x/');
    ok(loc.href.startsWith(REDIRECT_URI) && loc.searchParams.get('error') === 'invalid_request', 'authorize without code_challenge → error=invalid_request', loc.search);
  }

  // ------------------------------------------------------------ public client, code + PKCE
  section('public client: authorization code + PKCE, no prompt');
  const a1 = await authorize({ clientId: pub.clientId, login: { username: 'alice', password: 'alice-password', wrongPasswordFirst: true } });
  ok(jar.names().includes('grimmory_idp_session'), 'IdP session cookie set (grimmory_idp_session)');
  const t1 = await token({ grant_type: 'authorization_code', code: a1.code, redirect_uri: REDIRECT_URI, client_id: pub.clientId, code_verifier: a1.verifier });
  ok(t1.status === 200, 'token exchange without a secret → 200', t1.body);
  ok(t1.body.token_type === 'Bearer' && typeof t1.body.access_token === 'string', 'access_token issued');
  ok(typeof t1.body.refresh_token === 'string' && t1.body.refresh_token.length > 0, 'refresh_token issued although no prompt=consent was sent', t1.body);
  ok(t1.body.scope?.split(' ').includes('offline_access'), 'granted scope includes offline_access', t1.body.scope);
  const pubId = checkIdToken(t1.body.id_token, { clientId: pub.clientId, nonce: a1.nonce, account: alice, what: 'public ID token' });
  {
    const res = await http1(disc.userinfo_endpoint, { headers: { authorization: `Bearer ${t1.body.access_token}` }, useJar: false });
    const ui = await res.json();
    ok(res.status === 200 && ui.sub === alice.sub && ui.preferred_username === 'alice' && ui.email === alice.email
      && JSON.stringify(ui.groups) === JSON.stringify(alice.groups), 'userinfo returns sub, preferred_username, email, groups', ui);
  }

  section('public client: refresh');
  const r1 = await token({ grant_type: 'refresh_token', refresh_token: t1.body.refresh_token, client_id: pub.clientId });
  ok(r1.status === 200 && typeof r1.body.access_token === 'string', 'refresh_token grant → 200 with a new access_token', r1.body);
  ok(typeof r1.body.refresh_token === 'string' && r1.body.refresh_token !== t1.body.refresh_token, 'refresh token rotated (new one returned)');
  const pubIdRefreshed = checkIdToken(r1.body.id_token, { clientId: pub.clientId, account: alice, what: 'refreshed ID token' });
  ok(pubIdRefreshed.sid === pubId.sid, 'refreshed ID token keeps the sid');

  // ------------------------------------------------------------ confidential client
  section('confidential client: client_secret_basic, SSO from the existing IdP session');
  const a2 = await authorize({ clientId: conf.clientId, expectLoginForm: false });
  {
    const noSecret = await token({ grant_type: 'authorization_code', code: a2.code, redirect_uri: REDIRECT_URI, client_id: conf.clientId, code_verifier: a2.verifier });
    ok(noSecret.status === 401 && noSecret.body.error === 'invalid_client', 'confidential exchange without secret → 401 invalid_client', noSecret);
  }
  const a3 = await authorize({ clientId: conf.clientId, expectLoginForm: false });
  const t3 = await token({ grant_type: 'authorization_code', code: a3.code, redirect_uri: REDIRECT_URI, code_verifier: a3.verifier }, { basic: [conf.clientId, conf.clientSecret] });
  ok(t3.status === 200, 'token exchange with client_secret_basic → 200', t3.body);
  ok(typeof t3.body.refresh_token === 'string', 'refresh_token issued for the confidential client', t3.body);
  const confId = checkIdToken(t3.body.id_token, { clientId: conf.clientId, nonce: a3.nonce, account: alice, what: 'confidential ID token' });
  {
    const wrong = await token({ grant_type: 'refresh_token', refresh_token: t3.body.refresh_token }, { basic: [conf.clientId, 'wrong-secret'] });
    ok(wrong.status === 401, 'refresh with a wrong secret → 401', wrong);
    const r3 = await token({ grant_type: 'refresh_token', refresh_token: t3.body.refresh_token }, { basic: [conf.clientId, conf.clientSecret] });
    ok(r3.status === 200 && typeof r3.body.refresh_token === 'string', 'confidential refresh → 200 with a new refresh_token', r3.body);
    const posted = await token({ grant_type: 'refresh_token', refresh_token: r3.body.refresh_token, client_id: conf.clientId, client_secret: conf.clientSecret });
    ok(posted.status === 401 && posted.body.error === 'invalid_client', 'the client_secret_basic client sending its secret in the form → 401 invalid_client', posted);
  }

  section('prompt=login and prompt=consent still yield refresh tokens, without any consent screen');
  {
    const a4 = await authorize({ clientId: conf.clientId, extra: { prompt: 'login' }, login: { username: 'alice', password: 'alice-password' } });
    const t4 = await token({ grant_type: 'authorization_code', code: a4.code, redirect_uri: REDIRECT_URI, code_verifier: a4.verifier }, { basic: [conf.clientId, conf.clientSecret] });
    ok(t4.status === 200 && typeof t4.body.refresh_token === 'string', 'prompt=login: login form shown again, refresh_token issued', t4.body);
    const a5 = await authorize({ clientId: pub.clientId, extra: { prompt: 'consent' }, expectLoginForm: false });
    const t5 = await token({ grant_type: 'authorization_code', code: a5.code, redirect_uri: REDIRECT_URI, client_id: pub.clientId, code_verifier: a5.verifier });
    ok(t5.status === 200 && typeof t5.body.refresh_token === 'string', 'prompt=consent: auto-approved, refresh_token issued', t5.body);
    const replay = await token({ grant_type: 'authorization_code', code: a5.code, redirect_uri: REDIRECT_URI, client_id: pub.clientId, code_verifier: a5.verifier });
    ok(replay.status === 400 && replay.body.error === 'invalid_grant', 'code is single use', replay.body);
  }

  // ------------------------------------------------------------ RP-initiated logout + back-channel
  section('RP-initiated logout with back-channel logout');
  const logoutState = rand();
  const endRes = await http1(`${disc.end_session_endpoint}?${form({ id_token_hint: r1.body.id_token, post_logout_redirect_uri: POST_LOGOUT_URI, state: logoutState })}`);
  const endHtml = await endRes.text();
  ok(endRes.status === 200, 'GET end_session with id_token_hint → 200 confirmation page', endRes.status);
  ok(/<form id="op\.logoutForm" method="post"/.test(endHtml) && endHtml.includes('name="logout" value="yes"') && /\.submit\(\)/.test(endHtml),
    'confirmation page auto-submits its form with logout=yes (no click needed)');
  const action = new URL(/<form id="op\.logoutForm" method="post" action="([^"]+)"/.exec(endHtml)[1], disc.end_session_endpoint).href;
  const fields = Object.fromEntries([...endHtml.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/?>/g)].map((m) => [m[1], m[2]]));
  ok(fields.xsrf && fields.logout === 'yes', 'form carries xsrf and logout=yes', fields);
  const confirmRes = await http1(action, { method: 'POST', body: form(fields) });
  ok(confirmRes.status === 303, 'POST end_session/confirm → 303', confirmRes.status);
  const after = new URL(confirmRes.headers.get('location'));
  ok(after.href.startsWith(POST_LOGOUT_URI) && after.searchParams.get('state') === logoutState,
    'redirected to the registered post_logout_redirect_uri with our state', after.href);

  // The provider awaits the back-channel calls before redirecting; allow a short grace anyway.
  for (let i = 0; i < 20 && backchannel.length < 2; i += 1) await new Promise((r) => setTimeout(r, 100));
  ok(backchannel.length === 2, 'back-channel listener received one POST per client in the session', backchannel.length);
  const seen = new Map();
  for (const call of backchannel) {
    ok(call.contentType?.startsWith('application/x-www-form-urlencoded'), 'back-channel POST is form-encoded', call.contentType);
    const lt = call.form.get('logout_token');
    ok(typeof lt === 'string' && lt.split('.').length === 3, 'back-channel POST has a logout_token JWT');
    checkSignature(lt, 'logout_token');
    const { payload } = decodeJwt(lt);
    ok(payload.iss === issuer, 'logout_token iss = issuer', payload.iss);
    ok(payload.events && typeof payload.events['http://schemas.openid.net/event/backchannel-logout'] === 'object',
      'logout_token events contains http://schemas.openid.net/event/backchannel-logout', payload.events);
    ok(typeof payload.sid === 'string' && payload.sid.length > 0, 'logout_token has a sid');
    ok(payload.sub === alice.sub, 'logout_token sub = alice', payload.sub);
    ok(payload.nonce === undefined, 'logout_token has no nonce');
    seen.set(payload.aud, payload.sid);
  }
  ok(seen.get(pub.clientId) === pubId.sid, 'public client logout_token sid = sid of its ID token', [...seen]);
  ok(seen.get(conf.clientId) === confId.sid, 'confidential client logout_token sid = sid of its ID token', [...seen]);

  section('after logout');
  ok(!jar.names().includes('grimmory_idp_session'), 'IdP session cookie cleared');
  await authorize({ clientId: pub.clientId, login: { username: 'bob', password: 'bob-password' }, expectLoginForm: true });

  console.log(`\nPASS: ${checks} checks`);
} catch (err) {
  exitCode = 1;
  console.error(`\nFAIL after ${checks} passing checks: ${err.isCheck ? err.message : err.stack}`);
} finally {
  await idp.stop();
  await new Promise((resolve) => { rp.close(() => resolve()); rp.closeAllConnections?.(); });
}
process.exit(exitCode);
