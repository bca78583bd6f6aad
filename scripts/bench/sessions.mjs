#!/usr/bin/env node
// Seeds live sessions for scripts/bench.sh: prints the SQL that inserts them (both engines
// take it) and writes the cookie value of one of them to --cookie-file. A session row holds the
// SHA-256 (hex) of its cookie value, as the server stores it (src/auth/session.rs), so seeding
// through SQL takes a second where signing in 10,000 times would take minutes of password
// hashing.
//
//   node scripts/bench/sessions.mjs --user-id 1 --count 10000 --cookie-file FILE | sqlite3 DB
// Node built-ins only.

import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    'user-id': { type: 'string' },
    count: { type: 'string', default: '10000' },
    'cookie-file': { type: 'string' },
  },
  strict: true,
});
const userId = Number(opt['user-id']);
const count = Number(opt.count);
if (!Number.isInteger(userId) || !Number.isInteger(count) || count < 1 || !opt['cookie-file']) {
  console.error('usage: sessions.mjs --user-id N [--count N] --cookie-file FILE');
  process.exit(2);
}

const now = Date.now();
const expires = now + 30 * 24 * 3_600_000;
const BATCH = 500;
const lines = ['BEGIN;'];
for (let start = 0; start < count; start += BATCH) {
  const rows = [];
  for (let i = start; i < Math.min(count, start + BATCH); i += 1) {
    const cookie = randomBytes(32).toString('base64url');
    if (i === Math.floor(count / 2)) writeFileSync(opt['cookie-file'], cookie);
    const hash = createHash('sha256').update(cookie).digest('hex');
    rows.push(`('${hash}', ${userId}, 'local', ${now}, ${now}, ${expires})`);
  }
  lines.push('INSERT INTO sessions (id_hash, user_id, auth_method, created_at, last_seen_at, expires_at) VALUES');
  lines.push(`${rows.join(',\n')};`);
}
lines.push('COMMIT;');
process.stdout.write(`${lines.join('\n')}\n`);
