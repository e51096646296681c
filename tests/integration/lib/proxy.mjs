// Spawns the real spendgate binary against a generated YAML config and stops it again.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { toYaml } from './yaml.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const INTEGRATION_DIR = path.resolve(HERE, '..');

/** Path of the binary under test: $SPENDGATE_BIN, else ../../build/proxy/spendgate, else ../../build-lead/proxy/spendgate. */
export function binPath() {
  if (process.env.SPENDGATE_BIN) return path.resolve(INTEGRATION_DIR, process.env.SPENDGATE_BIN);
  const candidates = [
    path.resolve(INTEGRATION_DIR, '../../build/proxy/spendgate'),
    path.resolve(INTEGRATION_DIR, '../../build-lead/proxy/spendgate'),
  ];
  return candidates.find((p) => existsSync(p)) ?? candidates[0];
}

function requireBin() {
  const bin = binPath();
  if (!existsSync(bin)) {
    throw new Error(`spendgate binary not found at ${bin} (set SPENDGATE_BIN)`);
  }
  return bin;
}

export function makeTempDir(prefix = 'spendgate-it-') {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** Run a spendgate subcommand synchronously (check, version, ...). */
export function runCli(args, { timeout = 30_000, env = {}, cwd } = {}) {
  const r = spawnSync(requireBin(), args, {
    encoding: 'utf8',
    timeout,
    cwd,
    env: { ...process.env, ...env },
  });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound once, then closed). */
/**
 * A loopback port nothing listens on. It is taken below the kernel's ephemeral range
 * (net.ipv4.ip_local_port_range), so no `listen(0)` of a parallel test, nor the proxy under test,
 * can be handed the same port between this check and its use (a port freed from the ephemeral
 * range could be, and then a "dead" upstream answered or hung: a 504 instead of a 502).
 */
export async function closedPort() {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: keep the usual default
  }
  const first = 10000;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = first + Math.floor(Math.random() * Math.max(1, low - first));
    const refused = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); resolve(false); });
      s.once('error', (e) => resolve(e.code === 'ECONNREFUSED'));
    });
    if (refused) return port;
  }
  throw new Error('no closed loopback port found below the ephemeral range');
}

export const openaiProvider = (base_url, extra = {}) => ({ format: 'openai', base_url, routes: ['/v1/'], ...extra });
export const anthropicProvider = (base_url, extra = {}) => ({ format: 'anthropic', base_url, routes: ['/v1/messages'], ...extra });
export const geminiProvider = (base_url, extra = {}) => ({ format: 'gemini', base_url, routes: ['/v1beta/', '/upload/v1beta/'], ...extra });

/** Providers block for the three formats; any base URL left out points to a closed port. */
export async function providers({ openai, anthropic, gemini } = {}, extra = {}) {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  return {
    openai: openaiProvider(openai ?? dead, extra.openai),
    anthropic: anthropicProvider(anthropic ?? dead, extra.anthropic),
    gemini: geminiProvider(gemini ?? dead, extra.gemini),
  };
}

export function defaultServer(overrides = {}) {
  return {
    listen: '127.0.0.1:0',
    threads: 1,
    max_body_bytes: 1048576,
    idle_timeout: '5s',
    first_byte_timeout: '2s',
    request_timeout: '30s',
    ...overrides,
  };
}

const LISTEN_RE = /listening on http:\/\/(\[[^\]]+\]|[^\s:/]+):(\d+)/;
const ADMIN_RE = /admin API on (http:\/\/(?:\[[^\]]+\]|[^\s:/]+):\d+)/;

/**
 * Start `spendgate serve -c <generated config>`.
 * options: { providers, server (overrides), admin, ledger, extra (more top-level keys),
 *            configText (use verbatim instead), env, startTimeout }
 * If `t` (a node:test context) is given, the process is force-killed after the test if still alive.
 */
export async function startProxy(t, options = {}) {
  const bin = requireBin();
  const dir = makeTempDir();
  const configPath = path.join(dir, 'spendgate.yaml');
  let configText = options.configText;
  if (configText === undefined) {
    const config = {
      server: defaultServer(options.server),
      admin: options.admin ?? { listen: '127.0.0.1:0' },
      providers: options.providers ?? (await providers()),
      ledger: options.ledger ?? { path: path.join(dir, 'ledger.jsonl') },
      ...(options.extra ?? {}),
    };
    configText = toYaml(config);
  }
  writeFileSync(configPath, configText);

  const proc = spawn(bin, ['serve', '-c', configPath], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(options.env ?? {}) },
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });

  const handle = {
    bin, dir, configPath, configText, proc, exited,
    get stdout() { return stdout; },
    get stderr() { return stderr; },
    get exitInfo() { return exitInfo; },
    alive() { return exitInfo === null; },
    url: null, host: null, port: null, adminUrl: null,
    listenLineStream: null,
    /** SIGTERM, wait for exit; returns {code, signal, timedOut}. */
    async stop({ timeout = 20_000 } = {}) {
      if (exitInfo) return { ...exitInfo, timedOut: false };
      proc.kill('SIGTERM');
      let timer;
      const res = await Promise.race([
        exited.then((e) => ({ ...e, timedOut: false })),
        new Promise((resolve) => { timer = setTimeout(() => resolve(null), timeout); }),
      ]);
      clearTimeout(timer);
      if (res) return res;
      proc.kill('SIGKILL');
      const e = await exited;
      return { ...e, timedOut: true };
    },
    /** SIGTERM and assert a clean exit (status 0, no signal, within the timeout). */
    async stopClean(opts) {
      const r = await handle.stop(opts);
      assert.equal(r.timedOut, false, `spendgate did not exit within timeout after SIGTERM\nstderr:\n${stderr.slice(-4000)}`);
      assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null },
        `spendgate exited uncleanly on SIGTERM\nstderr:\n${stderr.slice(-4000)}`);
      return r;
    },
    /** Wait until the "admin API on http://HOST:PORT" line has been printed; returns the URL. */
    async waitForAdmin(timeout = 10_000) {
      const deadline = Date.now() + timeout;
      while (!handle.adminUrl) {
        const a = ADMIN_RE.exec(stdout) ?? ADMIN_RE.exec(stderr);
        if (a) { handle.adminUrl = a[1]; break; }
        if (Date.now() > deadline || exitInfo) {
          throw new Error(`no "admin API on http://HOST:PORT" line within ${timeout} ms\n${handle.describe()}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      return handle.adminUrl;
    },
    describe() {
      return `--- config ---\n${configText}--- stdout ---\n${stdout.slice(-4000)}\n--- stderr ---\n${stderr.slice(-4000)}`;
    },
  };

  if (t && typeof t.after === 'function') {
    t.after(async () => {
      if (handle.alive()) {
        proc.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    });
  }

  const startTimeout = options.startTimeout ?? 30_000;
  await new Promise((resolve, reject) => {
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err); else resolve();
    };
    const scan = (streamName) => {
      const text = streamName === 'stdout' ? stdout : stderr;
      const m = LISTEN_RE.exec(text);
      if (m && !handle.url) {
        handle.host = m[1];
        handle.port = Number(m[2]);
        handle.url = `http://${m[1]}:${m[2]}`;
        handle.listenLineStream = streamName;
      }
      const a = ADMIN_RE.exec(stdout) ?? ADMIN_RE.exec(stderr);
      if (a) handle.adminUrl = a[1];
      if (handle.url) finish();
    };
    proc.stdout.on('data', (d) => { stdout += d; scan('stdout'); });
    proc.stderr.on('data', (d) => { stderr += d; scan('stderr'); });
    proc.once('error', (e) => finish(e));
    exited.then((e) => finish(new Error(
      `spendgate exited before listening (code ${e.code}, signal ${e.signal})\n${handle.describe()}`)));
    const timer = setTimeout(() => finish(new Error(
      `spendgate did not print "listening on http://HOST:PORT" within ${startTimeout} ms\n${handle.describe()}`)), startTimeout);
  });
  return handle;
}
