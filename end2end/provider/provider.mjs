// A real OpenID Provider for the end-to-end tests, built on `oidc-provider` 9.13.3 and shaped
// like Authentik: issuer with a path and a trailing slash, implicit consent, refresh tokens for
// `offline_access` without `prompt=consent`, RP-initiated and back-channel logout.
//
// Everything lives in memory: every `startProvider()` call is a fresh provider with new keys.

import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

import Provider, { errors } from 'oidc-provider';

export const ISSUER_PATH = '/application/o/grimmory/';
const PREFIX = ISSUER_PATH.slice(0, -1); // "/application/o/grimmory"

export const PUBLIC_CLIENT_ID = 'grimmory-public';
export const CONFIDENTIAL_CLIENT_ID = 'grimmory-confidential';
// The mobile app's client: native, public, PKCE, custom-scheme redirect URIs (spec 11.2).
export const NATIVE_CLIENT_ID = 'grimmory-native';
export const DEFAULT_NATIVE_REDIRECT_URI = 'grimmory://oauth2-callback';
export const CONFIDENTIAL_POST_CLIENT_ID = 'grimmory-confidential-post';
/** The ways a confidential client may send its secret; each has a client of its own. */
export const SECRET_METHODS = ['client_secret_basic', 'client_secret_post'];
export const SCOPES = ['openid', 'profile', 'email', 'groups', 'offline_access'];

// Stable opaque subject per user, like Authentik's hashed user id (same on every start).
const subFor = (username) => createHash('sha256').update(`grimmory-e2e-idp:${username}`).digest('hex');

const ACCOUNT_LIST = [
  { username: 'alice', password: 'alice-password', email: 'alice@example.org', name: 'Alice Liddell', groups: ['grimmory-users', 'readers'] },
  { username: 'bob', password: 'bob-password', email: 'bob@example.org', name: 'Bob Builder', groups: ['grimmory-admins'] },
  { username: 'carol', password: 'carol-password', email: 'carol@example.org', name: 'Carol Danvers', groups: [] },
  { username: 'dave', password: 'dave-password', email: 'dave@example.org', name: 'Dave Bowman', groups: ['readers'] },
];

/** username → { sub, username, password, email, name, groups } */
export const ACCOUNTS = Object.freeze(Object.fromEntries(
  ACCOUNT_LIST.map((a) => [a.username, Object.freeze({ sub: subFor(a.username), ...a, groups: Object.freeze([...a.groups]) })]),
));
const ACCOUNTS_BY_SUB = new Map(Object.values(ACCOUNTS).map((a) => [a.sub, a]));

function findAccountByLogin(login, password) {
  const id = String(login ?? '').trim().toLowerCase();
  const account = Object.values(ACCOUNTS).find((a) => a.username === id || a.email === id);
  if (!account || account.password !== String(password ?? '')) return undefined;
  return account;
}

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

// No external resources anywhere (the test machine has no internet; the library's default pages
// @import Google Fonts).
const STYLE = 'body{font-family:sans-serif;max-width:360px;margin:40px auto;padding:0 16px}'
  + 'label{display:block;margin-top:12px}input{width:100%;padding:6px;box-sizing:border-box}'
  + 'button{margin-top:16px;padding:8px 16px}.error{color:#b00020}';

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>`
    + `<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>`
    + `<body>${body}</body></html>`;
}

function loginPage({ action, clientId, login = '', error }) {
  return page('Sign in - grimmory test IdP', `
<h1>grimmory test IdP</h1>
<p>Signing in to <strong>${esc(clientId)}</strong></p>
${error ? `<p class="error" role="alert" id="login-error">${esc(error)}</p>` : ''}
<form method="post" action="${esc(action)}" autocomplete="off">
  <label for="login">Username</label>
  <input id="login" name="login" type="text" autocomplete="username" value="${esc(login)}" required autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>`);
}

function jwkFor(alg) {
  const { privateKey } = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg };
}

async function readForm(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html, headers = {}) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(html);
}

/**
 * Start a fresh provider.
 *
 * @param {object} [options]
 * @param {number} [options.port=0] 0 = any free port; always bound to 127.0.0.1
 * @param {string[]} options.redirectUris
 * @param {string[]} [options.postLogoutRedirectUris=[]]
 * @param {string} [options.backchannelLogoutUri]
 * @param {'RS256'|'ES256'} [options.signingAlg='RS256']
 * @param {string} [options.clientSecret] secret of the confidential clients (default: random per start)
 * @param {string[]} [options.secretMethods=SECRET_METHODS] the methods the provider supports and
 *   advertises for sending a client secret; one confidential client is registered per method
 * @param {boolean} [options.log=false] log provider events to stderr
 * @param {{cert: string, key: string}} [options.tls] serve https with this PEM certificate and key
 *   (a provider behind a private CA)
 * @param {number} [options.accessTokenTtl=600] access token lifetime in seconds (short: refreshes)
 * @param {string[]} [options.nativeRedirectUris=['grimmory://oauth2-callback']] redirect URIs of the
 *   native client (custom schemes or loopback http)
 */
export async function startProvider(options = {}) {
  const {
    port = 0,
    redirectUris,
    postLogoutRedirectUris = [],
    backchannelLogoutUri,
    signingAlg = 'RS256',
    clientSecret = randomBytes(24).toString('hex'),
    secretMethods = SECRET_METHODS,
    log = false,
    tls,
    accessTokenTtl = 10 * 60,
    nativeRedirectUris = [DEFAULT_NATIVE_REDIRECT_URI],
  } = options;
  if (!Array.isArray(redirectUris) || redirectUris.length === 0) {
    throw new TypeError('startProvider: redirectUris (non-empty array) is required');
  }
  if (!['RS256', 'ES256'].includes(signingAlg)) {
    throw new TypeError('startProvider: signingAlg must be RS256 or ES256');
  }
  if (!Array.isArray(secretMethods) || secretMethods.length === 0
    || secretMethods.some((m) => !SECRET_METHODS.includes(m))) {
    throw new TypeError(`startProvider: secretMethods must list some of ${SECRET_METHODS.join(', ')}`);
  }

  // Bind first: the issuer needs the real port.
  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }) : http.createServer();
  server.keepAliveTimeout = 1000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const actualPort = server.address().port;
  const origin = `${tls ? 'https' : 'http'}://127.0.0.1:${actualPort}`;
  const issuer = `${origin}${ISSUER_PATH}`;

  const common = {
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [...redirectUris],
    post_logout_redirect_uris: [...postLogoutRedirectUris],
    id_token_signed_response_alg: signingAlg,
    ...(backchannelLogoutUri ? {
      backchannel_logout_uri: backchannelLogoutUri,
      backchannel_logout_session_required: true,
    } : {}),
  };

  // A client registered with one method is refused (invalid_client) when it authenticates with
  // another, so a sign-in with one of these proves which method the relying party used.
  const confidentialIds = {
    client_secret_basic: CONFIDENTIAL_CLIENT_ID,
    client_secret_post: CONFIDENTIAL_POST_CLIENT_ID,
  };
  const confidentialClients = secretMethods.map((method) => ({
    ...common, client_id: confidentialIds[method], client_secret: clientSecret, token_endpoint_auth_method: method,
  }));

  const configuration = {
    clients: [
      { ...common, client_id: PUBLIC_CLIENT_ID, token_endpoint_auth_method: 'none', application_type: 'web' },
      ...confidentialClients,
      // A native app's redirect URIs are its own (custom schemes); it signs out through the app.
      {
        ...common,
        client_id: NATIVE_CLIENT_ID,
        token_endpoint_auth_method: 'none',
        application_type: 'native',
        redirect_uris: [...nativeRedirectUris],
        post_logout_redirect_uris: [],
      },
    ],
    // Also what discovery lists in token_endpoint_auth_methods_supported: a relying party that
    // prefers basic must fall back to post when only post is listed.
    clientAuthMethods: ['none', ...secretMethods],
    jwks: { keys: [jwkFor(signingAlg)] },
    cookies: {
      // The app under test runs on 127.0.0.1 too and cookies ignore ports: use distinct names.
      names: { session: 'grimmory_idp_session', interaction: 'grimmory_idp_interaction', resume: 'grimmory_idp_resume' },
      keys: [randomBytes(32).toString('hex')],
    },
    scopes: SCOPES,
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    // Authentik puts the scope claims into the ID token too.
    conformIdTokenClaims: false,
    async findAccount(ctx, sub) {
      const account = ACCOUNTS_BY_SUB.get(sub);
      if (!account) return undefined;
      return {
        accountId: account.sub,
        async claims() {
          return {
            sub: account.sub,
            preferred_username: account.username,
            name: account.name,
            email: account.email,
            email_verified: true,
            groups: [...account.groups],
          };
        },
      };
    },
    // Implicit consent (Authentik's "implicit consent" flow): every requested scope/claim of these
    // first-party clients is granted without asking.
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const accountId = oidc.account.accountId;
      const { clientId } = oidc.client;
      const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(clientId);
      let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (!grant || grant.accountId !== accountId || grant.clientId !== clientId) {
        grant = new oidc.provider.Grant({ accountId, clientId });
      }
      const scopes = [...oidc.requestParamOIDCScopes];
      if (scopes.length) grant.addOIDCScope(scopes.join(' '));
      const claims = [...oidc.requestParamClaims];
      if (claims.length) grant.addOIDCClaims(claims);
      await grant.save();
      return grant;
    },
    // Refresh token whenever the client may use refresh_token and offline_access was granted
    // (the library default). offline_access survives the authorization request only thanks to
    // the `prompt` rewrite in the request handler below.
    async issueRefreshToken(ctx, client, code) {
      return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
    },
    // Authentik rotates refresh tokens on every use. A rotated token presented again is taken
    // for a stolen copy: the library answers invalid_grant and revokes the whole grant, so the
    // newest refresh token stops working too (OAuth 2.0 Security BCP, refresh token reuse).
    rotateRefreshToken: () => true,
    pkce: {
      // Public client: required (library default for auth method "none"); confidential: optional.
      required: (ctx, client) => client.clientAuthMethod === 'none',
    },
    clientBasedCORS: () => true,
    interactions: {
      url: (ctx, interaction) => `${PREFIX}/interaction/${interaction.uid}`,
    },
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // Confirm sign-out without a click: the form gets logout=yes and submits itself.
        async logoutSource(ctx, form) {
          const autoForm = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
          ctx.type = 'html';
          ctx.body = page('Signing out - grimmory test IdP', `
<h1>Signing out…</h1>
${autoForm}
<noscript><button type="submit" form="op.logoutForm">Yes, sign me out</button></noscript>
<script>document.getElementById('op.logoutForm').submit()</script>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = page('Signed out - grimmory test IdP', '<h1>Signed out</h1><p>You have been signed out of the grimmory test IdP.</p>');
        },
      },
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error - grimmory test IdP', `<h1>Error</h1>${
        Object.entries(out).map(([k, v]) => `<p><strong>${esc(k)}</strong>: <span class="error">${esc(v)}</span></p>`).join('')}`);
    },
    // The back-channel logout target is on 127.0.0.1: drop the library's SSRF-guarding dispatcher.
    fetch: (url, opts) => {
      delete opts.dispatcher;
      return globalThis.fetch(url, opts);
    },
    ttl: {
      AccessToken: accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 60 * 60,
      RefreshToken: 24 * 60 * 60,
      Interaction: 10 * 60,
      Session: 24 * 60 * 60,
      Grant: 24 * 60 * 60,
    },
  };

  // oidc-provider accepts a secret sent either way from a client registered with either method
  // (lib/shared/client_auth.js); stricter providers do not, and a test must see which way the
  // relying party sent it. So a confidential client must use the method it was registered with.
  const registeredMethod = new Map(confidentialClients.map((c) => [c.client_id, c.token_endpoint_auth_method]));
  function authMethodRefusal(authorization, form) {
    let clientId;
    let method;
    if (/^basic /i.test(authorization ?? '')) {
      const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
      try {
        clientId = decodeURIComponent(decoded.split(':')[0].replace(/\+/g, ' '));
      } catch {
        return undefined; // a malformed header: the library refuses it
      }
      method = 'client_secret_basic';
    } else if (form.has('client_secret')) {
      clientId = form.get('client_id');
      method = 'client_secret_post';
    } else {
      return undefined;
    }
    const registered = registeredMethod.get(clientId);
    return registered && registered !== method
      ? `${clientId} authenticates with ${registered}, not ${method}`
      : undefined;
  }

  const provider = new Provider(issuer, configuration);
  const events = ['backchannel.error', 'server_error', 'grant.error', 'authorization.error', 'end_session.error', 'revocation.error'];
  for (const ev of events) {
    provider.on(ev, (...args) => {
      const err = args.find((a) => a instanceof Error);
      if (log || ev === 'backchannel.error' || ev === 'server_error') {
        console.error(`[test-idp] ${ev}: ${err?.message ?? ''}${err?.error_description ? ` (${err.error_description})` : ''}`);
      }
    });
  }
  if (log) {
    provider.on('backchannel.success', (ctx, client, accountId, sid) => console.error(`[test-idp] backchannel.success ${client.clientId} sid=${sid}`));
    provider.on('end_session.success', () => console.error('[test-idp] end_session.success'));
    provider.on('grant.success', (ctx) => console.error(`[test-idp] grant.success ${ctx.oidc.params.grant_type}`));
  }
  const callback = provider.callback();

  // A grant with every requested scope/claim (reusing the interaction's grant when it fits).
  async function implicitGrant(details, accountId) {
    const clientId = details.params.client_id;
    let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    if (!grant || grant.accountId !== accountId || grant.clientId !== clientId) {
      grant = new provider.Grant({ accountId, clientId });
    }
    const scopes = String(details.params.scope ?? '').split(' ').filter((s) => SCOPES.includes(s));
    if (scopes.length) grant.addOIDCScope(scopes.join(' '));
    if (details.params.claims) {
      const { id_token: idToken = {}, userinfo = {} } = JSON.parse(details.params.claims);
      const claims = [...new Set([...Object.keys(idToken), ...Object.keys(userinfo)])];
      if (claims.length) grant.addOIDCClaims(claims);
    }
    return grant.save();
  }

  async function handleInteraction(req, res, uid) {
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (err) {
      if (err instanceof errors.SessionNotFound) {
        return send(res, 400, page('Error - grimmory test IdP', '<h1>Error</h1><p class="error">Sign-in session expired or not found. Start again from the application.</p>'));
      }
      throw err;
    }
    if (details.uid !== uid) {
      return send(res, 400, page('Error - grimmory test IdP', '<h1>Error</h1><p class="error">Interaction mismatch.</p>'));
    }
    const { prompt, params } = details;
    const action = `${PREFIX}/interaction/${uid}`;

    if (prompt.name === 'consent') {
      // Implicit consent: grant everything requested and continue, no page.
      const grantId = await implicitGrant(details, details.session.accountId);
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }

    if (prompt.name !== 'login') {
      return send(res, 400, page('Error - grimmory test IdP', `<h1>Error</h1><p class="error">Unsupported prompt ${esc(prompt.name)}</p>`));
    }

    if (req.method === 'GET') {
      return send(res, 200, loginPage({ action, clientId: params.client_id, login: params.login_hint ?? '' }));
    }
    if (req.method !== 'POST') return send(res, 405, 'Method Not Allowed', { allow: 'GET, POST' });

    const form = await readForm(req);
    const account = findAccountByLogin(form.get('login'), form.get('password'));
    if (!account) {
      return send(res, 200, loginPage({ action, clientId: params.client_id, login: form.get('login') ?? '', error: 'Invalid username or password' }));
    }
    // Answer the (implicit) consent step in the same go: one redirect less.
    const grantId = await implicitGrant(details, account.sub);
    return provider.interactionFinished(req, res, {
      login: { accountId: account.sub, amr: ['pwd'] },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
  }

  server.on('request', async (req, res) => {
    try {
      const full = new URL(req.url, origin);
      if (full.pathname !== PREFIX && !full.pathname.startsWith(ISSUER_PATH)) {
        return send(res, 404, 'Not Found', { 'content-type': 'text/plain' });
      }
      let rest = full.pathname.slice(PREFIX.length) || '/';

      const m = /^\/interaction\/([A-Za-z0-9_-]+)\/?$/.exec(rest);
      if (m) return await handleInteraction(req, res, m[1]);

      // Refresh tokens without prompt=consent: Authentik grants offline_access whenever it is
      // requested. oidc-provider strips offline_access from EVERY authorization request whose
      // `prompt` lacks `consent` (also when no prompt is sent at all: lib/actions/authorization/
      // scopes.js tests the list of known parameter names, not the request). So add `consent`
      // to the prompt here; the consent step is answered automatically (implicit consent), so
      // neither user nor client notices. Not possible with prompt=none (it must stand alone).
      if (rest === '/auth' && req.method === 'GET') {
        const scope = full.searchParams.get('scope') ?? '';
        if (scope.split(' ').includes('offline_access')) {
          const prompts = (full.searchParams.get('prompt') ?? '').split(' ').filter(Boolean);
          if (!prompts.includes('consent') && !prompts.includes('none')) {
            full.searchParams.set('prompt', [...prompts, 'consent'].join(' '));
          }
        }
      }

      if (req.method === 'POST' && /^\/token(\/|$)/.test(rest)) {
        const form = await readForm(req);
        // The body is read now: the library takes it from here (and says once on stderr that
        // it found a parsed body).
        req.body = form.toString();
        const refusal = authMethodRefusal(req.headers.authorization, form);
        if (refusal) {
          return send(res, 401, JSON.stringify({ error: 'invalid_client', error_description: refusal }), {
            'content-type': 'application/json',
            ...(req.headers.authorization ? { 'www-authenticate': 'Basic realm="grimmory test IdP"' } : {}),
          });
        }
      }

      rest += full.search;
      req.originalUrl = `${PREFIX}${rest}`;
      req.url = rest;
      return callback(req, res);
    } catch (err) {
      console.error('[test-idp] request error', err);
      if (!res.headersSent) send(res, 500, 'Internal Server Error', { 'content-type': 'text/plain' });
      else res.destroy();
    }
  });

  let stopped = false;
  return {
    issuer,
    port: actualPort,
    provider,
    clients: {
      public: { clientId: PUBLIC_CLIENT_ID },
      ...(secretMethods.includes('client_secret_basic')
        ? { confidential: { clientId: CONFIDENTIAL_CLIENT_ID, clientSecret } } : {}),
      ...(secretMethods.includes('client_secret_post')
        ? { confidentialPost: { clientId: CONFIDENTIAL_POST_CLIENT_ID, clientSecret } } : {}),
      native: { clientId: NATIVE_CLIENT_ID },
    },
    accounts: ACCOUNTS,
    async stop() {
      if (stopped) return;
      stopped = true;
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    },
  };
}

export default startProvider;
