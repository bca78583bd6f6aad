#!/usr/bin/env node
// Start the test OpenID Provider from the command line.
//
//   node provider/start.mjs --redirect-uri URI [--redirect-uri URI2 ...]
//       [--post-logout-redirect-uri URI ...] [--backchannel-logout-uri URI]
//       [--port N] [--signing-alg RS256|ES256] [--client-secret S] [--access-token-ttl SECS] [--log]
//       [--secret-method client_secret_basic|client_secret_post ...]   (default: both)
//       [--tls-cert PEM-FILE --tls-key PEM-FILE]   (serve https)
//       [--native-redirect-uri URI ...]            (the native client's; default grimmory://oauth2-callback)
//
// Prints ONE JSON line to stdout, then runs until SIGTERM/SIGINT:
//   {"issuer":"http://127.0.0.1:N/application/o/grimmory/","port":N,"clients":{...}}

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { SECRET_METHODS, startProvider } from './provider.mjs';

function usage(message) {
  if (message) console.error(`error: ${message}`);
  console.error('usage: node provider/start.mjs --redirect-uri URI [--post-logout-redirect-uri URI] '
    + '[--backchannel-logout-uri URI] [--port N] [--signing-alg RS256|ES256] [--client-secret S] '
    + '[--access-token-ttl SECS] [--log] [--tls-cert PEM-FILE --tls-key PEM-FILE] [--native-redirect-uri URI] '
    + '[--secret-method client_secret_basic|client_secret_post ...]');
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      'backchannel-logout-uri': { type: 'string' },
      port: { type: 'string', default: '0' },
      'signing-alg': { type: 'string', default: 'RS256' },
      'client-secret': { type: 'string' },
      'secret-method': { type: 'string', multiple: true },
      'access-token-ttl': { type: 'string', default: '600' },
      log: { type: 'boolean', default: false },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'native-redirect-uri': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }));
} catch (err) {
  usage(err.message);
}
if (values.help) usage();
if (!values['redirect-uri']?.length) usage('--redirect-uri is required');
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) usage('--port must be an integer 0-65535');
if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) usage('--tls-cert and --tls-key go together');
const tls = values['tls-cert']
  ? { cert: readFileSync(values['tls-cert'], 'utf8'), key: readFileSync(values['tls-key'], 'utf8') }
  : undefined;
const accessTokenTtl = Number(values['access-token-ttl']);
if (!Number.isInteger(accessTokenTtl) || accessTokenTtl < 1) usage('--access-token-ttl must be a whole number of seconds');
const secretMethods = values['secret-method'] ?? SECRET_METHODS;
if (secretMethods.some((m) => !SECRET_METHODS.includes(m))) usage(`--secret-method must be one of ${SECRET_METHODS.join(', ')}`);

const idp = await startProvider({
  port,
  redirectUris: values['redirect-uri'],
  postLogoutRedirectUris: values['post-logout-redirect-uri'] ?? [],
  backchannelLogoutUri: values['backchannel-logout-uri'],
  signingAlg: values['signing-alg'],
  clientSecret: values['client-secret'],
  secretMethods,
  log: values.log,
  tls,
  accessTokenTtl,
  ...(values['native-redirect-uri']?.length ? { nativeRedirectUris: values['native-redirect-uri'] } : {}),
});

process.stdout.write(`${JSON.stringify({ issuer: idp.issuer, port: idp.port, clients: idp.clients })}\n`);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(0), 3000);
  force.unref();
  await idp.stop();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
