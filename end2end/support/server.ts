import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface RunningServer {
  url: string;
  process: ChildProcess;
  /// What the server has printed to standard output so far: its log lines (e.g. the setup token).
  log: () => string;
  stop: () => Promise<void>;
}

/// Starts the release server on a free port with a fresh SQLite database and resolves once it
/// prints the address it listens on and answers /healthz. The database's folder is removed
/// once the server has exited.
export async function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  // scripts/test.sh sets both; the defaults fit a build in the repository's own target/.
  const bin = process.env.GRIMMORY_BIN ?? join(repoRoot, 'target/release/grimmory');
  const siteRoot = process.env.LEPTOS_SITE_ROOT ?? join(repoRoot, 'target/site');
  const dataDir = mkdtempSync(join(tmpdir(), 'grimmory-e2e-'));
  const removeData = () => rmSync(dataDir, { recursive: true, force: true });
  const child = spawn(bin, ['serve'], {
    env: {
      ...process.env,
      GRIMMORY_BIND: '127.0.0.1:0',
      DATABASE_URL: `sqlite://${dataDir}/grimmory.db?mode=rwc`,
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
      LEPTOS_SITE_ROOT: siteRoot,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start within 30 s')), 30_000);
    child.stdout!.on('data', () => {
      const match = buffered.match(/listening on (http:\/\/[\d.:]+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      removeData();
      reject(new Error(`server exited with ${code}`));
    });
  });
  const health = await fetch(`${url}/healthz`);
  if (!health.ok) throw new Error(`/healthz answered ${health.status}`);
  return {
    url,
    process: child,
    log: () => buffered,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
