// A private redis-server per test (loopback, no persistence), a tiny RESP client, and a TCP relay
// that can cut the proxy off from Redis while Redis keeps its data.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { closedPort } from './proxy.mjs';

export function redisAvailable() {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

/** Parse one RESP2 value from buf at off; returns [value, nextOffset] or null when incomplete. */
function parseResp(buf, off = 0) {
  if (off >= buf.length) return null;
  const type = String.fromCharCode(buf[off]);
  const le = buf.indexOf('\r\n', off);
  if (le < 0) return null;
  const line = buf.subarray(off + 1, le).toString('utf8');
  const next = le + 2;
  switch (type) {
    case '+': return [line, next];
    case '-': return [new RedisError(line), next];
    case ':': return [Number(line), next];
    case '$': {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return null;
      return [buf.subarray(next, next + n).toString('utf8'), next + n + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const out = [];
      let o = next;
      for (let i = 0; i < n; i++) {
        const r = parseResp(buf, o);
        if (!r) return null;
        out.push(r[0]);
        o = r[1];
      }
      return [out, o];
    }
    default:
      throw new Error(`bad RESP type byte ${type}`);
  }
}

export class RedisError extends Error {}

function encode(args) {
  let out = `*${args.length}\r\n`;
  for (const a of args) {
    const s = Buffer.from(String(a));
    out += `$${s.length}\r\n${s.toString('latin1')}\r\n`;
  }
  return Buffer.from(out, 'latin1');
}

/** One command on a fresh connection. Rejects on connection errors and on Redis error replies. */
export function redisCommand(port, args, { timeout = 3_000, host = '127.0.0.1' } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`redis ${args[0]} timed out`)); }, timeout);
    sock.on('connect', () => sock.write(encode(args)));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      let r;
      try { r = parseResp(buf); } catch (e) { clearTimeout(timer); sock.destroy(); reject(e); return; }
      if (!r) return;
      clearTimeout(timer);
      sock.end();
      if (r[0] instanceof RedisError) reject(r[0]); else resolve(r[0]);
    });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

/** HGETALL reply as an object. */
export async function redisHash(port, key) {
  const flat = await redisCommand(port, ['HGETALL', key]);
  const out = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}

/** Every key matching a glob (SCAN, so it is safe on a live server). */
export async function redisKeys(port, pattern) {
  const keys = [];
  let cursor = '0';
  do {
    const [next, batch] = await redisCommand(port, ['SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000']);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return [...new Set(keys)].sort();
}

/**
 * Start `redis-server --port P --bind 127.0.0.1 --save "" --appendonly no`. Returns
 * { port, url, command(args), hash(key), keys(pattern), kill(), restart(), stop(), alive() }.
 * kill() is SIGKILL (data lost, no persistence); restart() starts a new server on the same port.
 * With `t`, the server is killed after the test.
 */
export async function startRedis(t, { port } = {}) {
  port ??= await closedPort();
  let proc = null;
  let exited = null;
  let log = '';

  const launch = async () => {
    log = '';
    proc = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.on('data', (d) => { log += d; });
    proc.stderr.on('data', (d) => { log += d; });
    const p = proc;
    exited = new Promise((resolve) => p.once('exit', (code, signal) => resolve({ code, signal })));
    p.exitInfo = null;
    exited.then((e) => { p.exitInfo = e; });
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        if (await redisCommand(port, ['PING'], { timeout: 500 }) === 'PONG') return;
      } catch { /* not up yet */ }
      if (p.exitInfo) throw new Error(`redis-server exited at start ${JSON.stringify(p.exitInfo)}\n${log}`);
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer PING\n${log}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const kill = async () => {
    if (proc && !proc.exitInfo) {
      proc.kill('SIGKILL');
      await exited;
    }
  };

  await launch();
  const handle = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    get log() { return log; },
    alive: () => proc && !proc.exitInfo,
    command: (args, opts) => redisCommand(port, args, opts),
    hash: (key) => redisHash(port, key),
    keys: (pattern) => redisKeys(port, pattern),
    kill,
    stop: kill,
    restart: async () => { await kill(); await launch(); },
  };
  if (t && typeof t.after === 'function') t.after(kill);
  return handle;
}

/**
 * A TCP relay 127.0.0.1:<port> -> 127.0.0.1:<targetPort>. cut() drops every relayed connection and
 * refuses new ones (accepts and resets at once) until restore(). Lets a test take Redis away from
 * the proxy without losing Redis's data.
 */
export async function startTcpRelay(t, targetPort) {
  let cut = false;
  const pairs = new Set();
  const server = net.createServer((client) => {
    if (cut) { client.resetAndDestroy?.() ?? client.destroy(); return; }
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1' });
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const handle = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    get isCut() { return cut; },
    cut() {
      cut = true;
      for (const { client, upstream } of pairs) {
        client.resetAndDestroy?.() ?? client.destroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    restore() { cut = false; },
    close() {
      handle.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  if (t && typeof t.after === 'function') t.after(() => handle.close());
  return handle;
}
