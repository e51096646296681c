// Client-side helpers: buffered HTTP requests and raw TCP exchanges.
import http from 'node:http';
import net from 'node:net';

/**
 * Buffered request. Resolves { status, headers, rawHeaders, body: Buffer, text, json() }.
 * Uses a fresh connection (agent: false) unless an agent is given.
 */
export function request(url, { method = 'GET', headers = {}, body, agent = false, timeout = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({
          status: res.statusCode,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: buf,
          text: buf.toString('utf8'),
          json: () => JSON.parse(buf.toString('utf8')),
          socket: res.socket,
        });
      });
    });
    req.setTimeout(timeout, () => req.destroy(new Error(`client timeout after ${timeout} ms: ${method} ${url}`)));
    req.on('error', reject);
    if (body !== undefined) req.end(body); else req.end();
  });
}

export const postJson = (url, obj, headers = {}, opts = {}) => request(url, {
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(obj),
  ...opts,
});

/** Parse a (possibly partial) HTTP/1.1 response held in `buf`. `eof`: the peer closed. */
export function parseResponse(buf, eof = false) {
  // Skip interim 1xx answers (100 Continue etc.), except 101.
  while (/^HTTP\/1\.[01] 1(?!01)\d\d/.test(buf.subarray(0, 16).toString('latin1'))) {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return { complete: false };
    buf = buf.subarray(end + 4);
  }
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return { complete: false };
  const head = buf.subarray(0, headEnd).toString('latin1');
  const [statusLine, ...lines] = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!m) return { complete: false, error: `bad status line: ${statusLine}` };
  const headers = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  const status = Number(m[1]);
  let rest = buf.subarray(headEnd + 4);
  let body;
  let complete = false;
  if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
    const parts = [];
    let off = 0;
    for (;;) {
      const le = rest.indexOf('\r\n', off);
      if (le < 0) break;
      const size = parseInt(rest.subarray(off, le).toString('latin1'), 16);
      if (Number.isNaN(size)) break;
      if (size === 0) { complete = rest.indexOf('\r\n\r\n', le) >= 0 || rest.length >= le + 4; break; }
      if (rest.length < le + 2 + size + 2) break;
      parts.push(rest.subarray(le + 2, le + 2 + size));
      off = le + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    const len = Number(headers['content-length']);
    body = rest.subarray(0, len);
    complete = rest.length >= len;
  } else if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
    body = Buffer.alloc(0);
    complete = true;
  } else {
    body = rest;
    complete = eof;
  }
  return {
    complete,
    status,
    reason: m[2],
    headers,
    body,
    text: body.toString('utf8'),
    json: () => JSON.parse(body.toString('utf8')),
  };
}

/**
 * Send raw bytes over TCP and collect the answer.
 * `send` is a Buffer/string, or an async function (socket, state) that writes itself.
 * Resolves { raw, response (parsed), closed (peer closed), writeError } once the peer closed, or a
 * complete response was parsed and `waitForClose` is false, or `timeout` hit (then closed=false).
 * With waitForClose, it waits (up to closeTimeout) for the peer to close after a complete response.
 */
export function rawExchange(port, send, { host = '127.0.0.1', timeout = 20_000, waitForClose = false, closeTimeout = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host });
    const chunks = [];
    const state = { gotData: false, done: false, writeError: null };
    let finished = false;
    let closeTimer = null;
    const finish = (closed) => {
      if (finished) return;
      finished = true;
      state.done = true;
      clearTimeout(timer);
      clearTimeout(closeTimer);
      const raw = Buffer.concat(chunks);
      sock.destroy();
      resolve({ raw, response: parseResponse(raw, closed), closed, writeError: state.writeError });
    };
    const timer = setTimeout(() => finish(false), timeout);
    sock.on('data', (d) => {
      state.gotData = true;
      chunks.push(d);
      const p = parseResponse(Buffer.concat(chunks), false);
      if (p.complete) {
        if (!waitForClose) finish(false);
        else if (!closeTimer) closeTimer = setTimeout(() => finish(false), closeTimeout);
      }
    });
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', (e) => {
      // A reset after we already have data still counts as "closed"; keep what arrived.
      if (!state.writeError) state.writeError = e;
      if (chunks.length) finish(true);
      else if (!finished) { finished = true; clearTimeout(timer); reject(e); }
    });
    sock.once('connect', async () => {
      try {
        if (typeof send === 'function') await send(sock, state);
        else sock.write(send);
      } catch (e) {
        state.writeError = e;
      }
    });
  });
}

/** Write to a socket, resolving on drain; rejects if the socket errors. */
/**
 * Writes `head`, then lets `body(socket)` write the request body as it likes (the socket is
 * ended once it resolves, unless the server closed it first), and keeps the socket until it
 * closes. Unlike rawExchange it does not stop at the answer or the server's FIN, so a reset that
 * comes after the answer shows. @return {got, error}: all the text received, and the code of the
 * first socket error (EPIPE, ECONNRESET) or null
 */
export function sendUntilClosed(port, head, body, { host = '127.0.0.1', allowHalfOpen = false } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect({ port: Number(port), host, allowHalfOpen });
    let got = '';
    let error = null;
    socket.on('data', (d) => { got += d; });
    socket.on('error', (e) => { error ??= e.code; });
    socket.on('close', () => resolve({ got, error }));
    socket.write(head);
    (async () => {
      await body(socket);
      if (!socket.destroyed) socket.end();
    })();
  });
}

export function writeSock(sock, data) {
  return new Promise((resolve, reject) => {
    if (sock.destroyed) return reject(new Error('socket destroyed'));
    const onErr = (e) => reject(e);
    sock.once('error', onErr);
    const ok = sock.write(data, () => {});
    const done = () => { sock.off('error', onErr); resolve(); };
    if (ok) done(); else sock.once('drain', done);
  });
}

/** Await a promise with a deadline, rejecting with `what` in the message. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}
