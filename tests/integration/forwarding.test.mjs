// Plain request/response forwarding: exact relay, pass-through, hop-by-hop stripping, Host rewrite,
// upstream keep-alive reuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json } from './lib/fake_upstream.mjs';
import { request, rawExchange } from './lib/http.mjs';
import { OPENAI_CHAT_COMPLETION, ANTHROPIC_MESSAGE } from './lib/fixtures.mjs';

async function setup(t, handler, proxyOpts = {}) {
  const up = await startUpstream({ handler });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    ...proxyOpts,
  });
  return { up, proxy };
}

test('JSON answer is relayed exactly: status, body bytes, content-type, custom headers', async (t) => {
  // Deliberately odd formatting/unicode so any re-serialization would show.
  const bodyText = `{ "id" : "chatcmpl-1",\n  "model":"gpt-4o-mini-2024-07-18", "choices":[{"index":0,"message":{"role":"assistant","content":"h\u00e9llo \\u00e9 \u2603"},"finish_reason":"stop"}],\n  "usage" : {"prompt_tokens":5,"completion_tokens":2,"total_tokens":7} }\n`;
  const bodyBuf = Buffer.from(bodyText, 'utf8');
  const { up, proxy } = await setup(t, (req, res) => {
    res.writeHead(201, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': bodyBuf.length,
      'x-request-id': 'req_abc123',
      'openai-processing-ms': '42',
      'x-custom-upstream': 'custom value; with=params',
      'x-ratelimit-remaining-requests': '4999',
      'set-cookie': ['a=1; Path=/', 'b=2; Path=/'],
    });
    res.end(bodyBuf);
  });
  const res = await request(`${proxy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 201);
  assert.ok(res.body.equals(bodyBuf), `body differs:\n${res.text}\nvs\n${bodyText}`);
  assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(res.headers['x-request-id'], 'req_abc123');
  assert.equal(res.headers['openai-processing-ms'], '42');
  assert.equal(res.headers['x-custom-upstream'], 'custom value; with=params');
  assert.equal(res.headers['x-ratelimit-remaining-requests'], '4999');
  assert.deepEqual(res.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/']);
  assert.ok(res.headers['x-spendgate-request-id'], 'x-spendgate-request-id missing');
  assert.equal(up.requests.length, 1);
  await proxy.stopClean();
});

test('upstream error answers (4xx/5xx) are relayed unchanged, not replaced by proxy errors', async (t) => {
  const errBody = JSON.stringify({ error: { message: 'Rate limit reached for gpt-4o-mini', type: 'tokens', param: null, code: 'rate_limit_exceeded' } });
  const anthErr = JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: 'req_011' });
  const { proxy } = await setup(t, (req, res) => {
    if (req.url.startsWith('/v1/messages')) json(res, 529, anthErr, { 'x-should-retry': 'true' });
    else json(res, 429, errBody, { 'retry-after': '7', 'x-ratelimit-reset-tokens': '6m0s' });
  });
  const r1 = await request(`${proxy.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(r1.status, 429);
  assert.equal(r1.text, errBody);
  assert.equal(r1.headers['retry-after'], '7');
  assert.equal(r1.headers['x-ratelimit-reset-tokens'], '6m0s');
  assert.ok(r1.headers['x-spendgate-request-id']);
  const r2 = await request(`${proxy.url}/v1/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-3-5-haiku-20241022', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(r2.status, 529);
  assert.equal(r2.text, anthErr);
  assert.equal(r2.headers['x-should-retry'], 'true');
  assert.ok(r2.headers['x-spendgate-request-id']);
  // SPEC §3: a non-streamed answer carries its cost. An error costs nothing, also when the
  // request asked for a stream and the upstream answered with a JSON error instead.
  assert.equal(r1.headers['x-spendgate-cost-usd'], '0');
  assert.equal(r2.headers['x-spendgate-cost-usd'], '0');
  for (const [path, headers, model] of [
    ['/v1/chat/completions', { authorization: 'Bearer sk-test' }, 'gpt-4o-mini'],
    ['/v1/messages', { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' }, 'claude-3-5-haiku-20241022'],
  ]) {
    const r = await request(`${proxy.url}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model, max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.ok(r.status === 429 || r.status === 529, `${path}: ${r.status}`);
    assert.equal(r.headers['x-spendgate-cost-usd'], '0', `${path} stream:true answered with a JSON error`);
  }
  await proxy.stopClean();
});

test('method, path, query, body and end-to-end headers reach the upstream unchanged', async (t) => {
  const { up, proxy } = await setup(t, (req, res) => json(res, 200, { ok: true, seen: req.url }));
  const cases = [
    {
      method: 'POST',
      path: '/v1/chat/completions?api-version=2024-10-21&x=a%20b&empty=&dup=1&dup=2',
      headers: { authorization: 'Bearer sk-test-123', 'x-foo': 'bar baz', 'content-type': 'application/json', 'openai-organization': 'org-1' },
      body: Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 3, messages: [{ role: 'user', content: 'h\u00e9llo \u{1F600}' }] })),
    },
    {
      method: 'POST',
      path: '/v1/messages?beta=true',
      headers: { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01', 'anthropic-beta': 'prompt-caching-2024-07-31', 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ model: 'claude-3-5-haiku-20241022', max_tokens: 3, messages: [{ role: 'user', content: 'hi' }] })),
    },
    {
      method: 'POST',
      path: '/v1beta/models/gemini-2.0-flash:generateContent?key=gm-key',
      headers: { 'x-goog-api-key': 'gm-test', 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generationConfig: { maxOutputTokens: 3 } })),
    },
    { method: 'GET', path: '/v1/models?limit=2&order=desc', headers: { authorization: 'Bearer sk-test' } },
    { method: 'DELETE', path: '/v1/files/file-abc123', headers: { authorization: 'Bearer sk-test' } },
    {
      method: 'PUT',
      path: '/v1/vector_stores/vs_1',
      headers: { authorization: 'Bearer sk-test', 'content-type': 'application/octet-stream' },
      body: Buffer.from([0, 1, 2, 255, 254, 13, 10, 13, 10, 0]),
    },
    { method: 'HEAD', path: '/v1/models/gpt-4o-mini', headers: { authorization: 'Bearer sk-test' } },
  ];
  for (const [i, c] of cases.entries()) {
    const res = await request(`${proxy.url}${c.path}`, { method: c.method, headers: c.headers, body: c.body });
    assert.equal(res.status, 200, `${c.method} ${c.path}: ${res.status} ${res.text}`);
    assert.ok(res.headers['x-spendgate-request-id'], `${c.method} ${c.path}: no request id`);
    const seen = up.requests[i];
    assert.ok(seen, `upstream did not get ${c.method} ${c.path}`);
    assert.equal(seen.method, c.method);
    assert.equal(seen.url, c.path, 'path+query must be forwarded byte for byte');
    assert.ok(seen.body.equals(c.body ?? Buffer.alloc(0)), `${c.method} ${c.path}: body differs`);
    for (const [k, v] of Object.entries(c.headers)) {
      assert.equal(seen.headers[k], v, `${c.method} ${c.path}: header ${k}`);
    }
  }
  assert.equal(up.requests.length, cases.length);
  await proxy.stopClean();
});

test('hop-by-hop headers are stripped, Host rewritten, accept-encoding replaced with identity', async (t) => {
  const { up, proxy } = await setup(t, (req, res) => json(res, 200, { ok: true }, {
    // hop-by-hop response headers must not reach the client either
    'keep-alive': 'timeout=99',
    'x-resp-hop': 'secret',
    connection: 'keep-alive, x-resp-hop',
  }));
  const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 3, messages: [{ role: 'user', content: 'hi' }] });
  const reqText = [
    'POST /v1/chat/completions HTTP/1.1',
    `Host: ${proxy.host}:${proxy.port}`,
    'Connection: keep-alive, X-Hop-Custom',
    'Keep-Alive: timeout=5, max=100',
    'X-Hop-Custom: must-not-pass',
    'TE: trailers',
    'Trailer: X-Checksum',
    'Upgrade: foo/1',
    'Proxy-Authorization: Basic dXNlcjpwYXNz',
    'Proxy-Connection: keep-alive',
    'Accept-Encoding: gzip, deflate, br',
    'Authorization: Bearer sk-test',
    'X-Foo: kept',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '', body,
  ].join('\r\n');
  const { response } = await rawExchange(proxy.port, reqText);
  assert.ok(response.complete, 'no complete response');
  assert.equal(response.status, 200, response.text);
  const seen = up.requests[0];
  assert.ok(seen, 'upstream saw no request');
  for (const h of ['keep-alive', 'x-hop-custom', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-connection']) {
    assert.equal(seen.headers[h], undefined, `hop-by-hop request header ${h} was forwarded: ${seen.headers[h]}`);
  }
  assert.doesNotMatch(seen.headers.connection ?? '', /x-hop-custom|upgrade/i);
  assert.equal(seen.headers.host, `127.0.0.1:${up.port}`, 'Host must be rewritten to the upstream');
  assert.equal(seen.headers['accept-encoding'], 'identity');
  assert.equal(seen.headers.authorization, 'Bearer sk-test');
  assert.equal(seen.headers['x-foo'], 'kept');
  assert.equal(seen.body.toString(), body);
  assert.equal(response.headers['x-resp-hop'], undefined, 'hop-by-hop response header named in Connection was relayed');
  assert.notEqual(response.headers['keep-alive'], 'timeout=99', 'upstream Keep-Alive header relayed to client');
  await proxy.stopClean();
});

test('request without accept-encoding still asks the upstream for identity', async (t) => {
  const { up, proxy } = await setup(t, (req, res) => json(res, 200, { ok: true }));
  const res = await request(`${proxy.url}/v1/models`, { headers: { authorization: 'Bearer sk-test' } });
  assert.equal(res.status, 200);
  const ae = up.requests[0].headers['accept-encoding'];
  assert.ok(ae === undefined || ae === 'identity', `accept-encoding upstream: ${ae}`);
  await proxy.stopClean();
});

test('sequential requests on one client connection reuse one upstream connection', async (t) => {
  const { up, proxy } = await setup(t, (req, res) => {
    if (req.url.startsWith('/v1/messages')) json(res, 200, ANTHROPIC_MESSAGE);
    else json(res, 200, OPENAI_CHAT_COMPLETION);
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const clientSockets = new Set();
  const N = 6;
  for (let i = 0; i < N; i++) {
    const res = await request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: `hi ${i}` }] }),
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(JSON.parse(res.text), OPENAI_CHAT_COMPLETION);
    clientSockets.add(res.socket);
  }
  assert.equal(clientSockets.size, 1, 'client side should have used one keep-alive connection to the proxy');
  assert.equal(up.requests.length, N);
  assert.equal(up.tcpConnections, 1,
    `expected 1 upstream TCP connection for ${N} sequential requests, got ${up.tcpConnections}`);
  assert.equal(new Set(up.requests.map((r) => r.connId)).size, 1);
  await proxy.stopClean();
});

test('one keep-alive connection: request bodies and held answers larger and smaller than the one before are relayed exactly', async (t) => {
  // The connection keeps its last request's target and body and its last held answer's buffer
  // (up to 16 KiB each) for the next: nothing of one may show in another.
  const answerSizes = [5000, 10, 40_000, 100, 20_000, 0];
  const promptSizes = [30_000, 5, 20_000, 3, 100, 17_000];
  const answerFor = (n) => ({ ...OPENAI_CHAT_COMPLETION,
    choices: [{ index: 0, message: { role: 'assistant', content: 'a'.repeat(n) }, finish_reason: 'stop' }] });
  let served = 0;
  const { up, proxy } = await setup(t, (req, res) => json(res, 200, answerFor(answerSizes[served++])));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const sockets = new Set();
  for (let i = 0; i < answerSizes.length; i++) {
    const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'p'.repeat(promptSizes[i]) }] });
    const path = i % 2 ? '/v1/chat/completions' : `/v1/chat/completions?request=${'q'.repeat(40 * (i + 1))}`;
    const res = await request(`${proxy.url}${path}`, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' }, body,
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, JSON.stringify(answerFor(answerSizes[i])), `answer ${i}`);
    assert.equal(Number(res.headers['content-length']), res.body.length, `answer ${i}: content-length`);
    assert.ok(res.headers['x-spendgate-cost-usd'], `answer ${i} was held for its cost`);
    assert.equal(up.requests[i].body.toString(), body, `request body ${i}`);
    assert.equal(up.requests[i].url, path, `request target ${i}`);
    sockets.add(res.socket);
  }
  assert.equal(sockets.size, 1, 'every request on the same connection');
  await proxy.stopClean();
});

test('separate sequential client connections also reuse the idle upstream connection', async (t) => {
  const { up, proxy } = await setup(t, (req, res) => json(res, 200, OPENAI_CHAT_COMPLETION));
  for (let i = 0; i < 4; i++) {
    const res = await request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: `hi ${i}` }] }),
    });
    assert.equal(res.status, 200, res.text);
  }
  assert.equal(up.requests.length, 4);
  assert.equal(up.tcpConnections, 1, `expected pooled upstream connection, got ${up.tcpConnections} connections`);
  await proxy.stopClean();
});

test('every answer carries a distinct x-spendgate-request-id', async (t) => {
  const { proxy } = await setup(t, (req, res) => json(res, 200, OPENAI_CHAT_COMPLETION));
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const ok = await request(`${proxy.url}/v1/models`, { headers: { authorization: 'Bearer sk-test' } });
    ids.push(ok.headers['x-spendgate-request-id']);
    const nf = await request(`${proxy.url}/no/such/route`);
    ids.push(nf.headers['x-spendgate-request-id']);
  }
  assert.ok(ids.every((x) => typeof x === 'string' && x.length > 0), `missing ids: ${ids}`);
  assert.equal(new Set(ids).size, ids.length, `request ids not unique: ${ids}`);
  await proxy.stopClean();
});

test('concurrent requests are all answered correctly', async (t) => {
  const { up, proxy } = await setup(t, async (req, res, rec) => {
    const body = JSON.parse(rec.body.toString());
    await new Promise((r) => setTimeout(r, 50));
    json(res, 200, { echo: body.messages[0].content });
  });
  const N = 20;
  const results = await Promise.all(Array.from({ length: N }, (_, i) => request(`${proxy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: `m${i}` }] }),
  })));
  results.forEach((r, i) => {
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), { echo: `m${i}` });
  });
  assert.equal(up.requests.length, N);
  await proxy.stopClean();
});

test('upstream that gzips anyway: the client gets a body that agrees with its headers', async (t) => {
  const { gzipSync, gunzipSync } = await import('node:zlib');
  const plain = Buffer.from(JSON.stringify(OPENAI_CHAT_COMPLETION));
  const gz = gzipSync(plain);
  const { proxy } = await setup(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': gz.length });
    res.end(gz);
  });
  const res = await request(`${proxy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test', 'accept-encoding': 'gzip' },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 200);
  const enc = res.headers['content-encoding'];
  const decoded = enc === 'gzip' ? gunzipSync(res.body) : res.body;
  assert.ok(enc === undefined || enc === 'gzip' || enc === 'identity', `unexpected content-encoding ${enc}`);
  assert.deepEqual(JSON.parse(decoded.toString()), OPENAI_CHAT_COMPLETION,
    `body does not match content-encoding=${enc}`);
  if (res.headers['content-length'] !== undefined) {
    assert.equal(Number(res.headers['content-length']), res.body.length, 'content-length disagrees with the body');
  }
  await proxy.stopClean();
});

test('pipelined requests on one connection are answered in order', async (t) => {
  const { up, proxy } = await setup(t, async (req, res) => {
    if (req.url.includes('slow')) await new Promise((r) => setTimeout(r, 200));
    json(res, 200, { path: req.url });
  });
  const reqs = ['/v1/models/slow', '/v1/models/a', '/v1/models/b']
    .map((p, i) => `GET ${p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n${i === 2 ? 'Connection: close\r\n' : ''}\r\n`).join('');
  const r = await rawExchange(proxy.port, reqs, { waitForClose: true, closeTimeout: 15_000, timeout: 20_000 });
  const text = r.raw.toString();
  const bodies = [...text.matchAll(/\{"path":"([^"]+)"\}/g)].map((m) => m[1]);
  assert.deepEqual(bodies, ['/v1/models/slow', '/v1/models/a', '/v1/models/b'], `responses: ${text}`);
  assert.equal((text.match(/HTTP\/1\.1 200 /g) ?? []).length, 3, text);
  assert.equal(up.requests.length, 3);
  await proxy.stopClean();
});

test('204 and HEAD answers (no body) do not stall the client connection', async (t) => {
  const { proxy } = await setup(t, (req, res) => {
    if (req.method === 'DELETE') { res.writeHead(204, { 'x-deleted': 'yes' }); return res.end(); }
    if (req.method === 'HEAD') { res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1234' }); return res.end(); }
    json(res, 200, { ok: true });
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const opts = { agent, headers: { authorization: 'Bearer sk-test' }, timeout: 10_000 };
  const d = await request(`${proxy.url}/v1/files/file-1`, { ...opts, method: 'DELETE' });
  assert.equal(d.status, 204);
  assert.equal(d.headers['x-deleted'], 'yes');
  assert.equal(d.body.length, 0);
  const h = await request(`${proxy.url}/v1/models/gpt-4o-mini`, { ...opts, method: 'HEAD' });
  assert.equal(h.status, 200);
  assert.equal(h.headers['content-length'], '1234');
  const g = await request(`${proxy.url}/v1/models`, opts);
  assert.equal(g.status, 200);
  assert.deepEqual(g.json(), { ok: true });
  assert.equal(d.socket, g.socket, 'keep-alive connection should have survived the bodiless answers');
  await proxy.stopClean();
});

/** A raw TCP upstream: onConn(socket, requestText) scripts the answer. */
async function rawUpstream(t, onRequest) {
  const sockets = new Set();
  let connections = 0;
  const requests = [];
  const srv = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('error', () => {});
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const cl = Number(/content-length:\s*(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + cl) return;
      const reqText = buf.slice(0, end + 4 + cl);
      buf = buf.slice(end + 4 + cl);
      requests.push(reqText);
      onRequest(s, reqText, requests.length);
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => { for (const s of sockets) s.destroy(); srv.close(); });
  return { url: `http://127.0.0.1:${srv.address().port}`, requests, get connections() { return connections; } };
}

test('close-delimited upstream body (no content-length, no chunked) is relayed completely', async (t) => {
  const body = JSON.stringify(OPENAI_CHAT_COMPLETION);
  const up = await rawUpstream(t, (s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n');
    s.write(body.slice(0, 50));
    setTimeout(() => s.end(body.slice(50)), 100);
  });
  const proxy = await startProxy(t, { providers: await providers({ openai: up.url }) });
  for (let i = 0; i < 2; i++) {
    const res = await request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.text, body);
  }
  assert.equal(up.connections, 2, 'a close-delimited upstream connection cannot be reused');
  await proxy.stopClean();
});

test('upstream answer with "Connection: close" is not reused; next request opens a new connection', async (t) => {
  const { up, proxy } = await setup(t, (req, res) => json(res, 200, { n: up.requests.length }, { connection: 'close' }));
  for (let i = 1; i <= 3; i++) {
    const res = await request(`${proxy.url}/v1/models`, { headers: { authorization: 'Bearer sk-test' } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json(), { n: i });
  }
  assert.equal(up.tcpConnections, 3);
  await proxy.stopClean();
});

test('pooled upstream connection closed by the upstream while idle: next request still succeeds', async (t) => {
  const { up, proxy } = await setup(t, (req, res, rec) => {
    json(res, 200, { n: up.requests.length });
    // Close the keep-alive connection right after answering, without announcing it.
    res.once('finish', () => setImmediate(() => rec.socket.destroy()));
  });
  for (let i = 1; i <= 3; i++) {
    const res = await request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: `hi ${i}` }] }),
    });
    assert.equal(res.status, 200, `request ${i} after the upstream closed the idle connection: ${res.status} ${res.text}`);
    assert.deepEqual(res.json(), { n: i });
    // make sure the upstream side has really closed before the next request
    await up.connections.find((c) => c.id === up.requests[i - 1].connId).closed;
  }
  assert.equal(up.requests.length, 3);
  await proxy.stopClean();
});

test('conflicting Content-Length headers -> 400, nothing forwarded', async (t) => {
  const { up, proxy } = await setup(t, (req, res) => json(res, 200, { ok: true }));
  const smuggle = [
    'POST /v1/chat/completions HTTP/1.1', 'Host: x', 'Authorization: Bearer sk-test',
    'Content-Type: application/json', 'Content-Length: 2', 'Content-Length: 40', '', '{}',
  ].join('\r\n');
  const r = await rawExchange(proxy.port, smuggle, { waitForClose: true, closeTimeout: 5000 });
  assert.equal(r.response.status, 400, `conflicting Content-Length accepted: ${r.raw.toString().slice(0, 300)}`);
  assert.ok(r.response.headers['x-spendgate-request-id']);
  const bad = ['POST /v1/chat/completions HTTP/1.1', 'Host: x', 'Content-Length: 12abc', '', '{}'].join('\r\n');
  const r2 = await rawExchange(proxy.port, bad, { waitForClose: true, closeTimeout: 5000 });
  assert.equal(r2.response.status, 400, `invalid Content-Length accepted: ${r2.raw.toString().slice(0, 300)}`);
  assert.equal(up.requests.length, 0, 'a malformed request must not reach the upstream');
  await proxy.stopClean();
});

test('client sending "Expect: 100-continue" (like curl for big bodies) gets a correct answer', async (t) => {
  const { up, proxy } = await setup(t, (req, res, rec) => json(res, 200, { len: rec.body.length }));
  const body = Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'y'.repeat(200_000) }] }));
  const head = [
    'POST /v1/chat/completions HTTP/1.1', `Host: 127.0.0.1:${proxy.port}`, 'Authorization: Bearer sk-test',
    'Content-Type: application/json', `Content-Length: ${body.length}`, 'Expect: 100-continue', '', '',
  ].join('\r\n');
  let got100 = false;
  const r = await rawExchange(proxy.port, async (sock, state) => {
    sock.write(head);
    // curl waits up to 1 s for "100 Continue", then sends the body anyway
    const waited = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), 1000);
      sock.once('data', (d) => { clearTimeout(timer); got100 = /^HTTP\/1\.1 100/.test(d.toString()); resolve(true); });
    });
    void waited;
    sock.write(body);
  }, { timeout: 20_000 });
  const final = r.response; // parseResponse skips an interim 100 response
  assert.equal(final.status, 200, r.raw.toString().slice(0, 300));
  assert.deepEqual(final.json(), { len: body.length });
  assert.equal(up.requests[0].body.length, body.length);
  assert.equal(got100, true, 'the proxy sent no 100 Continue');

  // HTTP/1.0 has no interim answers: the expectation is ignored (RFC 9110 §10.1.1), the body read.
  const head10 = head.replace('HTTP/1.1', 'HTTP/1.0');
  const r10 = await rawExchange(proxy.port, async (sock) => {
    sock.write(head10);
    await new Promise((resolve) => setTimeout(resolve, 300));
    sock.write(body);
  }, { timeout: 20_000, waitForClose: true });
  assert.match(r10.raw.toString('latin1'), /^HTTP\/1\.1 200 /, `HTTP/1.0 got an interim answer: ${r10.raw.toString().slice(0, 200)}`);
  assert.equal(r10.response.status, 200);
  await proxy.stopClean();
});

// Anthropic's and Gemini's APIs share "/v1/" with OpenAI's. With the SPEC's default routes the
// Anthropic SDK's models.list() (GET /v1/models) and Gemini's v1 methods would go to the OpenAI
// upstream, with the caller's Anthropic or Gemini key: a request that names its API by header
// (anthropic-version, x-goog-api-key) goes to the one provider of that format instead.
test("a request that names its API by header or Gemini's ?key= goes to that provider on a shared path, not to the OpenAI upstream with its key", async (t) => {
  const { default: Anthropic } = await import('@anthropic-ai/sdk');
  const { default: OpenAI } = await import('openai');
  const { ledgerPathOf, waitForLedger } = await import('./lib/ledger.mjs');
  const seen = { openai: [], anthropic: [], gemini: [] };
  const start = async (name, handler) => {
    const up = await startUpstream({ handler: (req, res, rec) => { seen[name].push(rec); return handler(req, res, rec); } });
    t.after(() => up.close());
    return up;
  };
  const openai = await start('openai', (req, res) => json(res, 200, { object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1, owned_by: 'openai' }] }));
  const anthropic = await start('anthropic', (req, res) => json(res, 200, { data: [{ type: 'model', id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' }], has_more: false, first_id: 'claude-sonnet-4-5', last_id: 'claude-sonnet-4-5' }));
  const gemini = await start('gemini', (req, res) => json(res, 200, {
    candidates: [{ content: { role: 'model', parts: [{ text: 'hi' }] }, finishReason: 'STOP' }],
    usageMetadata: { promptTokenCount: 7, candidatesTokenCount: 3, totalTokenCount: 10 },
    modelVersion: 'gemini-2.5-flash',
  }));
  const proxy = await startProxy(t, { providers: await providers({ openai: openai.url, anthropic: anthropic.url, gemini: gemini.url }) });

  const claude = new Anthropic({ apiKey: 'sk-ant-caller-key', baseURL: proxy.url, maxRetries: 0 });
  const models = await claude.models.list();
  assert.equal(models.data[0].id, 'claude-sonnet-4-5');
  assert.equal(seen.anthropic.length, 1, 'the Anthropic SDK\'s models.list() reaches the Anthropic upstream');
  assert.equal(seen.anthropic[0].url, '/v1/models');
  const auth = seen.anthropic[0].headers;  // SDK 1.x sends its key as a bearer token
  assert.ok(auth['x-api-key'] === 'sk-ant-caller-key' || auth.authorization === 'Bearer sk-ant-caller-key', JSON.stringify(auth));

  const gpt = new OpenAI({ apiKey: 'sk-openai-caller-key', baseURL: `${proxy.url}/v1`, maxRetries: 0 });
  const list = await gpt.models.list();
  assert.equal(list.data[0].id, 'gpt-4o-mini');
  assert.equal(seen.openai.length, 1, 'the OpenAI SDK\'s models.list() still reaches the OpenAI upstream');

  const path = '/v1/models/gemini-2.5-flash:generateContent';
  const r = await request(`${proxy.url}${path}`, {
    method: 'POST',
    headers: { 'x-goog-api-key': 'AIza-caller-key', 'content-type': 'application/json' },
    body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(seen.gemini.length, 1, 'a Gemini v1 call with x-goog-api-key reaches the Gemini upstream');
  assert.equal(seen.gemini[0].url, path);
  assert.equal(seen.gemini[0].headers['x-goog-api-key'], 'AIza-caller-key');
  // The quickstarts' form, the key in the query (audit 13: it went to the OpenAI upstream).
  const r2 = await request(`${proxy.url}${path}?key=AIza-query-key`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
  });
  assert.equal(r2.status, 200, r2.text);
  assert.equal(seen.gemini.length, 2, 'a Gemini v1 call with ?key= reaches the Gemini upstream');
  assert.equal(seen.gemini[1].url, `${path}?key=AIza-query-key`);
  for (const rec of seen.openai) {
    const headers = JSON.stringify(rec.headers) + rec.url;
    assert.doesNotMatch(headers, /sk-ant-caller-key|AIza-caller-key|AIza-query-key/, 'no Anthropic or Gemini key at the OpenAI upstream');
  }
  const lines = (await waitForLedger(ledgerPathOf(proxy), 4)).map((l) => l.json);
  assert.equal(lines.filter((l) => l.provider === 'gemini').length, 2, JSON.stringify(lines));
  const geminiLine = lines.find((l) => l.provider === 'gemini');
  assert.ok(geminiLine, JSON.stringify(lines));
  assert.equal(geminiLine.model, 'gemini-2.5-flash');
  assert.equal(geminiLine.input_tokens, 7);
  assert.equal(geminiLine.output_tokens, 3);
  await proxy.stopClean();
});

// Anthropic serves (and bills) an OpenAI SDK compatibility endpoint, /v1/chat/completions. An
// OpenAI SDK that adds an anthropic-version header is routed there (shared paths, above): it must
// be metered and limited as a chat completion, and refused in OpenAI's shape (audit 12: it went
// through unmetered, past hard budgets and max_cost_usd, with the operator's key injected).
test('an OpenAI SDK call routed to Anthropic by anthropic-version is metered as a chat completion and refused past max_cost_usd', async (t) => {
  const { default: OpenAI } = await import('openai');
  const { ledgerPathOf, waitForLedger } = await import('./lib/ledger.mjs');
  const seen = [];
  const openai = await startUpstream({ handler: (req, res) => json(res, 500, { error: 'not here' }) });
  t.after(() => openai.close());
  const anthropic = await startUpstream({
    handler: (req, res, rec) => {
      seen.push(rec);
      json(res, 200, {
        id: 'chatcmpl-ant', object: 'chat.completion', created: 1, model: 'claude-sonnet-4-5',
        choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 },
      });
    },
  });
  t.after(() => anthropic.close());
  // A worst case of 1000 output tokens at $15 per 1M is $0.015: above the limit; 10 tokens are not.
  const proxy = await startProxy(t, {
    providers: await providers({ openai: openai.url, anthropic: anthropic.url }),
    extra: { request_limits: { max_cost_usd: 0.01 } },
  });
  const client = new OpenAI({
    apiKey: 'sk-ant-caller-key', baseURL: `${proxy.url}/v1`, maxRetries: 0,
    defaultHeaders: { 'anthropic-version': '2023-06-01' },
  });
  const answer = await client.chat.completions.create({
    model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }],
  });
  assert.equal(answer.choices[0].message.content, 'hi');
  assert.equal(seen.length, 1);
  const [line] = (await waitForLedger(ledgerPathOf(proxy), 1)).map((l) => l.json);
  assert.equal(line.provider, 'anthropic');
  assert.equal(line.input_tokens, 20);
  assert.equal(line.output_tokens, 10);
  assert.equal(line.usage_source, 'provider');
  assert.notEqual(line.price_source, 'unmetered');
  assert.equal(line.cost_usd, 0.00021);  // 20 x $3 + 10 x $15 per 1M

  const err = await client.chat.completions.create({
    model: 'claude-sonnet-4-5', max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }],
  }).then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.BadRequestError, `expected a 400, got ${err}`);
  assert.equal(err.code, 'request_cost_limit_exceeded');
  assert.equal(seen.length, 1, 'the refused call never reached Anthropic');
  await proxy.stopClean();
});
