// Scriptable fake LLM provider (HTTP or HTTPS) that records what it receives.
import http from 'node:http';
import https from 'node:https';
import { EventEmitter, once } from 'node:events';

let nextConnId = 1;

/**
 * startUpstream({ handler, tls: {key, cert} })
 * handler(req, res, rec) is called after the request body has been read; rec = {
 *   method, url, headers, rawHeaders, body (Buffer), connId, receivedAt, socket }.
 * Returned object: { url, port, requests, connections, tcpConnections, waitForRequest(n), close() , events }
 *   connections: [{ id, openedAt, closedAt|null, closed: Promise<number> }] (one per HTTP-level socket)
 *   tcpConnections: number of accepted TCP connections (including failed TLS handshakes)
 */
export async function startUpstream({ handler, tls } = {}) {
  const events = new EventEmitter();
  events.setMaxListeners(100);
  const requests = [];
  const connections = [];
  const sockets = new Set();
  const connInfo = new WeakMap();
  let tcpConnections = 0;
  let tlsErrors = 0;

  // Large header limit so that header-size tests measure the proxy, not Node's 16 KiB default.
  const server = tls
    ? https.createServer({ key: tls.key, cert: tls.cert, maxHeaderSize: 256 * 1024 })
    : http.createServer({ maxHeaderSize: 256 * 1024 });
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  server.requestTimeout = 0;

  const track = (socket) => {
    const info = { id: nextConnId++, openedAt: performance.now(), closedAt: null };
    info.closed = new Promise((resolve) => {
      socket.once('close', () => {
        info.closedAt = performance.now();
        events.emit('connclose', info);
        resolve(info.closedAt);
      });
    });
    connInfo.set(socket, info);
    connections.push(info);
    events.emit('conn', info);
  };

  server.on('connection', (socket) => {
    tcpConnections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (!tls) track(socket);
  });
  if (tls) {
    server.on('secureConnection', (socket) => { sockets.add(socket); track(socket); });
    server.on('tlsClientError', () => { tlsErrors++; events.emit('tlsClientError'); });
  }

  server.on('request', async (req, res) => {
    const chunks = [];
    const rec = {
      method: req.method,
      url: req.url,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: null,
      connId: connInfo.get(req.socket)?.id,
      servername: req.socket.servername,
      receivedAt: performance.now(),
      socket: req.socket,
      req,
      res,
    };
    try {
      for await (const c of req) chunks.push(c);
    } catch {
      // client went away while sending the body
    }
    rec.body = Buffer.concat(chunks);
    rec.bodyDoneAt = performance.now();
    requests.push(rec);
    events.emit('request', rec);
    try {
      if (handler) await handler(req, res, rec);
      else json(res, 200, { ok: true });
    } catch (err) {
      events.emit('handlerError', err);
      res.destroy(err);
    }
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const scheme = tls ? 'https' : 'http';

  return {
    server,
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    urlFor: (host) => `${scheme}://${host}:${port}`,
    requests,
    connections,
    events,
    get tcpConnections() { return tcpConnections; },
    get tlsErrors() { return tlsErrors; },
    /** Resolves with the n-th request (1-based) once it has been fully received. */
    waitForRequest(n = requests.length + 1, timeout = 15_000) {
      return waitUntil(events, 'request', () => requests[n - 1], timeout, `upstream request #${n}`);
    },
    async close() {
      server.close();
      server.closeAllConnections?.();
      for (const s of sockets) s.destroy();
      await once(server, 'close').catch(() => {});
    },
  };
}

/** Wait until `check()` returns a truthy value, re-checking on every `event` emission. */
export function waitUntil(emitter, event, check, timeout, what = 'condition') {
  const v = check();
  if (v) return Promise.resolve(v);
  return new Promise((resolve, reject) => {
    const onEvent = () => {
      const r = check();
      if (r) { cleanup(); resolve(r); }
    };
    const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out after ${timeout} ms waiting for ${what}`)); }, timeout);
    const cleanup = () => { clearTimeout(timer); emitter.off(event, onEvent); };
    emitter.on(event, onEvent);
  });
}

export function json(res, status, body, headers = {}) {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': buf.length, ...headers });
  res.end(buf);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Write and wait until the data has been handed to the kernel. */
export function writeAsync(res, data) {
  return new Promise((resolve, reject) => {
    const ok = res.write(data, (err) => (err ? reject(err) : resolve()));
    void ok;
  });
}

/** Serialize SSE events: [{event?, data}] where data is a string or JSON value. */
export function sseFrame({ event, data }) {
  const d = typeof data === 'string' ? data : JSON.stringify(data);
  return (event ? `event: ${event}\n` : '') + d.split('\n').map((l) => `data: ${l}`).join('\n') + '\n\n';
}

export function startSse(res, headers = {}) {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    ...headers,
  });
  res.flushHeaders();
}
