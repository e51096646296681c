// Answers the proxy makes itself (admin routes, proxy errors and denials), read off raw sockets:
// HEAD gets the GET head without a body, so the next answer on a keep-alive connection is read
// right; a HEAD forwarded upstream keeps working the same way. And request targets in absolute
// form (RFC 9112 §3.2.2), on both ports. And each of these answers carries a Date header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json } from './lib/fake_upstream.mjs';
import { parseResponse, rawExchange } from './lib/http.mjs';
import { OPENAI_CHAT_COMPLETION } from './lib/fixtures.mjs';

const TOKEN = `adm-${randomBytes(8).toString('hex')}`;
const UPSTREAM_DATE = 'Wed, 21 Oct 2015 07:28:00 GMT';

/** Writes `text` on one connection and collects everything until the peer closes. */
function exchange(port, text, timeout = 10_000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    const chunks = [];
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no close within ${timeout} ms`)); }, timeout);
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks)); });
    sock.once('connect', () => sock.write(text));
  });
}

/**
 * `HEAD target` then `GET target` (Connection: close) on one connection. @return the HEAD answer's
 * status and headers, and the GET answer parsed from exactly the bytes after the HEAD answer's head.
 */
async function headThenGet(port, target, headers = {}) {
  const lines = Object.entries({ host: '127.0.0.1', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const raw = await exchange(port, `HEAD ${target} HTTP/1.1\r\n${lines}\r\nGET ${target} HTTP/1.1\r\n${lines}connection: close\r\n\r\n`);
  const end = raw.indexOf('\r\n\r\n');
  assert.ok(end > 0, `HEAD ${target}: no answer head in ${JSON.stringify(raw.toString('latin1'))}`);
  const head = parseResponse(Buffer.concat([raw.subarray(0, end + 4), Buffer.alloc(0)]), true);
  const rest = raw.subarray(end + 4);
  assert.match(rest.subarray(0, 9).toString('latin1'), /^HTTP\/1\.1 /,
    `HEAD ${target}: the answer had a body, so the GET answer is misread: ${JSON.stringify(raw.toString('latin1'))}`);
  const get = parseResponse(rest, true);
  assert.ok(get.complete, `GET ${target}: incomplete answer ${JSON.stringify(rest.toString('latin1'))}`);
  return { head, get };
}

/**
 * HEAD and GET agree on status and Content-Length (`sameLength`: false for a body that may change
 * between the two, such as an uptime); the GET has that many body bytes.
 */
function assertSameHead({ head, get }, what, { sameLength = true } = {}) {
  assert.equal(head.status, get.status, `${what}: HEAD ${head.status}, GET ${get.status}`);
  assert.match(head.headers['content-length'] ?? '', /^[1-9]\d*$/, `${what}: HEAD Content-Length`);
  if (sameLength) assert.equal(head.headers['content-length'], get.headers['content-length'], `${what}: Content-Length`);
  assert.equal(head.headers['content-type'], get.headers['content-type'], `${what}: Content-Type`);
  assert.equal(Number(get.headers['content-length']), get.body.length, `${what}: GET body length`);
  assert.ok(get.body.length > 0, `${what}: GET has a body`);
}

async function upstreamAndProxy(t, options = {}) {
  const up = await startUpstream({
    handler: (req, res) => (req.method === 'POST'
      ? json(res, 200, OPENAI_CHAT_COMPLETION)
      : json(res, 200, { object: 'list', data: [{ id: 'gpt-4o-mini' }] }, { date: UPSTREAM_DATE })),
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    admin: { listen: '127.0.0.1:0', token_env: 'SG_IT_ADMIN_TOKEN' },
    env: { SG_IT_ADMIN_TOKEN: TOKEN },
    ...options,
  });
  await proxy.waitForAdmin();
  return { up, proxy, adminPort: Number(new URL(proxy.adminUrl).port) };
}

test('admin port: HEAD answers the GET head without a body; the next answer on the connection reads right', async (t) => {
  const { proxy, adminPort } = await upstreamAndProxy(t);
  const auth = { authorization: `Bearer ${TOKEN}` };
  for (const [target, headers] of [
    ['/healthz', {}], ['/readyz', auth], ['/admin/status', auth], ['/admin/budgets', auth],
    ['/admin/spend', auth], ['/admin/alerts', auth], ['/admin/emergency-stop', auth], ['/metrics', auth],
  ]) {
    const answers = await headThenGet(adminPort, target, headers);
    assert.equal(answers.get.status, 200, `GET ${target}: ${answers.get.text}`);
    assertSameHead(answers, target, { sameLength: !['/admin/status', '/metrics'].includes(target) });
  }
  // Refusals too: no token (401), no such route (404).
  for (const target of ['/admin/status', '/admin/nothing']) {
    assertSameHead(await headThenGet(adminPort, target, target === '/admin/nothing' ? auth : {}), `${target} refused`);
  }
  await proxy.stopClean();
});

test('proxy port: HEAD on an answer the proxy makes itself (404, 401 denial) has no body; a forwarded HEAD still relays', async (t) => {
  const { up, proxy } = await upstreamAndProxy(t, { extra: { identity: { passthrough: false } } });
  const notFound = await headThenGet(proxy.port, '/nothing/here');
  assert.equal(notFound.get.status, 404, notFound.get.text);
  assertSameHead(notFound, 'no route');

  const denied = await headThenGet(proxy.port, '/v1/models', { authorization: 'Bearer sk-unknown' });
  assert.equal(denied.get.status, 401, denied.get.text);
  assert.equal(denied.head.headers['x-spendgate-denied'], 'unknown_key');
  assertSameHead(denied, 'unknown_key denial');
  assert.equal(up.requests.length, 0, 'a denied request reached the upstream');
  await proxy.stopClean();

  // Forwarded (worked before, kept so): the upstream's head, and the relay expects no body after it.
  const { up: open, proxy: passthrough } = await upstreamAndProxy(t);
  const forwarded = await headThenGet(passthrough.port, '/v1/models', { authorization: 'Bearer sk-test' });
  assert.equal(forwarded.get.status, 200, forwarded.get.text);
  assertSameHead(forwarded, 'forwarded');
  assert.deepEqual(open.requests.map((r) => r.method), ['HEAD', 'GET']);
  await passthrough.stopClean();
});

/** One raw request, `target` written as given; @return the parsed answer. */
async function rawRequest(port, method, target, { headers = {}, body = '' } = {}) {
  const lines = Object.entries({ host: '127.0.0.1', 'content-length': Buffer.byteLength(body), ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const { response } = await rawExchange(port, `${method} ${target} HTTP/1.1\r\n${lines}\r\n${body}`);
  assert.ok(response.complete, `${method} ${target}: incomplete answer`);
  return response;
}

test('proxy port: an absolute-form target is routed by its path and forwarded in origin form, query kept', async (t) => {
  const { up, proxy } = await upstreamAndProxy(t);
  const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  const res = await rawRequest(proxy.port, 'POST', `http://127.0.0.1:${proxy.port}/v1/chat/completions?api-version=1`, {
    headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' }, body,
  });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json(), OPENAI_CHAT_COMPLETION);
  assert.ok(res.headers['x-spendgate-cost-usd'], 'metered as a chat completion');
  // Another authority and no port: still only the path counts.
  const models = await rawRequest(proxy.port, 'GET', 'http://api.openai.com/v1/models', { headers: { authorization: 'Bearer sk-test' } });
  assert.equal(models.status, 200, models.text);
  assert.deepEqual(up.requests.map((r) => `${r.method} ${r.url}`), ['POST /v1/chat/completions?api-version=1', 'GET /v1/models']);
  assert.equal(up.requests[0].body.toString(), body);

  // No route for its path: 404 as for the origin form.
  assert.equal((await rawRequest(proxy.port, 'GET', `http://127.0.0.1:${proxy.port}/nothing/here`)).status, 404);
  // Neither a path nor an absolute URI with a host: 400, never routed.
  for (const target of ['http://user:pw@127.0.0.1/v1/models', 'http:///v1/models', 'http:/v1/models', 'v1/models', '*']) {
    const bad = await rawRequest(proxy.port, 'GET', target, { headers: { authorization: 'Bearer sk-test' } });
    assert.equal(bad.status, 400, `${target}: ${bad.status} ${bad.text}`);
    assert.equal(bad.json().error.type, 'invalid_request_error', target);
  }
  assert.equal(up.requests.length, 2, 'a malformed target reached the upstream');
  await proxy.stopClean();
});

test('admin port: an absolute-form target is routed by its path; a malformed one gets 400', async (t) => {
  const { proxy, adminPort } = await upstreamAndProxy(t);
  const health = await rawRequest(adminPort, 'GET', `http://127.0.0.1:${adminPort}/healthz`);
  assert.equal(health.status, 200, health.text);
  assert.equal(health.text, 'ok');
  const spend = await rawRequest(adminPort, 'GET', `http://localhost/admin/spend?by=provider&period=day`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(spend.status, 200, spend.text);
  assert.equal(spend.json().period, 'day');
  for (const target of ['http://user@127.0.0.1/healthz', 'healthz', '*']) {
    const bad = await rawRequest(adminPort, 'GET', target);
    assert.equal(bad.status, 400, `${target}: ${bad.status} ${bad.text}`);
  }
  await proxy.stopClean();
});

/** One Date header, an IMF-fixdate (RFC 9110 §5.6.7) within a few seconds of now. */
function assertDateNow(res, what) {
  const date = res.headers.date;
  assert.match(date ?? '', /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/,
    `${what}: Date ${JSON.stringify(date)} in ${JSON.stringify(res.headers)}`);
  assert.ok(Math.abs(Date.parse(date) - Date.now()) < 10_000, `${what}: Date ${date} is not now`);
}

test('answers the proxy makes itself carry Date (admin answers, errors, denials); relayed answers keep the upstream\'s', async (t) => {
  const { proxy, adminPort } = await upstreamAndProxy(t, {
    extra: { identity: { passthrough: false } },
  });
  const auth = { authorization: `Bearer ${TOKEN}` };
  for (const [target, headers, status] of [
    ['/healthz', {}, 200], ['/readyz', auth, 200], ['/admin/status', auth, 200], ['/metrics', auth, 200],
    ['/admin/status', {}, 401], ['/admin/nothing', auth, 404], ['*', {}, 400],
  ]) {
    const res = await rawRequest(adminPort, 'GET', target, { headers });
    assert.equal(res.status, status, `admin ${target}: ${res.text}`);
    assertDateNow(res, `admin ${target}`);
  }
  for (const [target, headers, status] of [
    ['/nothing/here', {}, 404], ['/v1/models', { authorization: 'Bearer sk-unknown' }, 401], ['*', {}, 400],
  ]) {
    const res = await rawRequest(proxy.port, 'GET', target, { headers });
    assert.equal(res.status, status, `proxy ${target}: ${res.text}`);
    assertDateNow(res, `proxy ${target}`);
  }
  await proxy.stopClean();

  // Forwarded: the upstream's Date, and only that.
  const { proxy: open } = await upstreamAndProxy(t);
  const res = await rawRequest(open.port, 'GET', '/v1/models', { headers: { authorization: 'Bearer sk-test' } });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers.date, UPSTREAM_DATE);
  await open.stopClean();
});
