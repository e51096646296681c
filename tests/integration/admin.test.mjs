// Admin API (SPEC §5), metrics (SPEC §7) and hot reload: every route with and without the token,
// the JSON shapes of /admin/status and /admin/emergency-stop, /metrics parsed back and compared to
// the ledger, and POST /admin/reload / SIGHUP while a stream is in flight, good and bad configs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { writeFileSync, readFileSync } from 'node:fs';
import { startProxy, providers, defaultServer } from './lib/proxy.mjs';
import { startUpstream, json, sleep, startSse, writeAsync } from './lib/fake_upstream.mjs';
import { request, sendUntilClosed } from './lib/http.mjs';
import { toYaml } from './lib/yaml.mjs';
import { ledgerPathOf, waitForLedger, rawMember, usdToPico, picoToUsd } from './lib/ledger.mjs';
import { chatCompletion, chatUsage, openaiChatStreamFrames } from './lib/openai_stream.mjs';

const TOKEN = `adm-${randomBytes(8).toString('hex')}`;
const USAGE = {
  'gpt-4o-mini': { prompt: 1000, cached: 0, completion: 200 },
  'gpt-4.1-nano': { prompt: 64, cached: 0, completion: 8 },
};

// Fake OpenAI: JSON answers with USAGE per model; `stream: true` answers SSE with one event every
// `eventMs` ms (usage chunk only if the request asked for it, like api.openai.com).
function fakeOpenai({ eventMs = 200, contents } = {}) {
  const state = { streamStarted: 0, streamFrames: null };
  const handler = async (req, res, rec) => {
    let body = {};
    try { body = JSON.parse(rec.body.toString() || '{}'); } catch { /* not JSON */ }
    const u = USAGE[body.model] ?? { prompt: 10, completion: 5 };
    if (body.stream) {
      const frames = openaiChatStreamFrames({
        includeUsage: !!body.stream_options?.include_usage, usage: chatUsage(u), model: body.model, contents,
      });
      state.streamFrames = frames;
      state.streamStarted++;
      startSse(res);
      for (const f of frames) {
        await writeAsync(res, f);
        await sleep(eventMs);
      }
      res.end();
      return;
    }
    json(res, 200, chatCompletion({ model: body.model, usage: chatUsage(u) }));
  };
  return { handler, state };
}

const auth = (token) => (token ? { authorization: `Bearer ${token}` } : {});
const admin = (proxy, path, { token = TOKEN, method = 'GET', body } = {}) => request(`${proxy.adminUrl}${path}`, {
  method, headers: { ...auth(token), ...(body ? { 'content-type': 'application/json' } : {}) }, body,
});

function chat(proxy, model, { key = 'sk-test', extra = {} } = {}) {
  return request(`${proxy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, max_tokens: 300, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]00:00)$/;

function assertEstopShape(e, what) {
  assert.deepEqual(Object.keys(e).sort(), ['active', 'reason', 'since', 'source', 'until'], `${what} keys: ${JSON.stringify(e)}`);
  assert.equal(e.active, false, `${what}.active`);
  assert.equal(typeof e.reason, 'string', `${what}.reason`);
  assert.ok(typeof e.since === 'string' && RFC3339.test(e.since), `${what}.since ${e.since}`);  // never null (SPEC §5)
  assert.ok(e.until === null || RFC3339.test(e.until), `${what}.until ${e.until}`);
  assert.ok(['manual', 'auto'].includes(e.source) || e.source === null || e.source === '', `${what}.source ${e.source}`);
}

test('every admin route: 401 without or with a wrong token, 200 with it; status and estop shapes', async (t) => {
  const up = fakeOpenai();
  const fake = await startUpstream({ handler: up.handler });
  t.after(() => fake.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: fake.url }),
    admin: { listen: '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' },
    env: { SPENDGATE_ADMIN_TOKEN: TOKEN },
    extra: { budgets: [{ name: 'daily', scope: 'global', period: 'day', limit_usd: 5, mode: 'hard' }] },
  });
  await proxy.waitForAdmin();

  for (const token of [null, 'wrong', TOKEN]) {
    const res = await admin(proxy, '/healthz', { token });
    assert.equal(res.status, 200, `GET /healthz token=${token}: ${res.status} ${res.text}`);
    assert.equal(res.text.trim(), 'ok', `GET /healthz body`);
  }

  const routes = [
    ['GET', '/readyz'], ['GET', '/metrics'], ['GET', '/admin/status'], ['GET', '/admin/emergency-stop'],
    ['GET', '/admin/budgets'], ['GET', '/admin/spend?by=model&period=day'], ['GET', '/admin/alerts'],
    ['POST', '/admin/reload'],
  ];
  for (const [method, path] of routes) {
    for (const token of [null, 'wrong', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const res = await admin(proxy, path, { token, method });
      assert.equal(res.status, 401, `${method} ${path} with token=${token}: expected 401, got ${res.status} ${res.text}`);
    }
    // Token sent without the Bearer scheme.
    const raw = await request(`${proxy.adminUrl}${path}`, { method, headers: { authorization: TOKEN } });
    assert.equal(raw.status, 401, `${method} ${path} with "Authorization: <token>" (no Bearer): got ${raw.status}`);
    // The scheme is case-insensitive and any run of SP/HTAB may follow it (RFC 7235), as on the proxy side.
    for (const value of [`bearer ${TOKEN}`, `BEARER \t ${TOKEN}`]) {
      const ok = await request(`${proxy.adminUrl}${path}`, { method, headers: { authorization: value } });
      assert.equal(ok.status, 200, `${method} ${path} with "Authorization: ${value}": got ${ok.status} ${ok.text}`);
    }
    const wrongLower = await request(`${proxy.adminUrl}${path}`, { method, headers: { authorization: `bearer ${TOKEN}x` } });
    assert.equal(wrongLower.status, 401, `${method} ${path} with a wrong token in a lower-case scheme`);
    const res = await admin(proxy, path, { method });
    assert.equal(res.status, 200, `${method} ${path} with the token: expected 200, got ${res.status} ${res.text}`);
  }
  // POST /admin/emergency-stop without the token must not change anything.
  let res = await admin(proxy, '/admin/emergency-stop', { token: null, method: 'POST', body: JSON.stringify({ active: true, reason: 'x' }) });
  assert.equal(res.status, 401, `POST /admin/emergency-stop without token: ${res.status} ${res.text}`);

  res = await admin(proxy, '/admin/status');
  const status = res.json();
  assert.deepEqual(Object.keys(status).sort(), ['emergency_stop', 'requests_in_flight', 'store', 'uptime_s', 'version'],
    `/admin/status keys: ${res.text}`);
  assert.equal(typeof status.version, 'string');
  assert.ok(status.version.length > 0);
  assert.equal(typeof status.uptime_s, 'number');
  assert.ok(status.uptime_s >= 0 && status.uptime_s < 120, `uptime_s ${status.uptime_s}`);
  assert.deepEqual(status.store, { kind: 'memory', up: true }, `store ${JSON.stringify(status.store)}`);
  assert.equal(status.requests_in_flight, 0);
  assertEstopShape(status.emergency_stop, '/admin/status emergency_stop');

  res = await admin(proxy, '/admin/emergency-stop');
  assert.match(res.headers['content-type'] ?? '', /application\/json/);
  const estop = res.json();
  assertEstopShape(estop, '/admin/emergency-stop');
  assert.deepEqual(estop, status.emergency_stop, 'status.emergency_stop equals GET /admin/emergency-stop');

  // An active stop shows the full shape, manual source, since/until as RFC 3339.
  res = await admin(proxy, '/admin/emergency-stop', { method: 'POST', body: JSON.stringify({ active: true, reason: 'admin test', for: '1h' }) });
  assert.equal(res.status, 200, res.text);
  const on = (await admin(proxy, '/admin/emergency-stop')).json();
  assert.equal(on.active, true);
  assert.equal(on.reason, 'admin test');
  assert.equal(on.source, 'manual');
  assert.match(on.since, RFC3339);
  assert.match(on.until, RFC3339);
  const span = Date.parse(on.until) - Date.parse(on.since);
  assert.ok(Math.abs(span - 3_600_000) <= 2000, `until - since = ${span} ms`);
  res = await admin(proxy, '/admin/emergency-stop', { method: 'POST', body: JSON.stringify({ active: false }) });
  assert.equal(res.status, 200, res.text);
  assert.equal((await admin(proxy, '/admin/emergency-stop')).json().active, false);

  // /admin/alerts is a JSON array (possibly empty).
  res = await admin(proxy, '/admin/alerts');
  const alerts = res.json();
  assert.ok(Array.isArray(alerts) || Array.isArray(alerts?.alerts), `/admin/alerts: ${res.text}`);
  // /readyz with the memory store is up.
  assert.equal((await admin(proxy, '/readyz')).status, 200);

  await proxy.stopClean();
});

test('POST /admin/emergency-stop refuses an unknown key or a non-string reason with a 400 that names it, and changes nothing', async (t) => {
  const up = fakeOpenai();
  const fake = await startUpstream({ handler: up.handler });
  t.after(() => fake.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: fake.url }),
    admin: { listen: '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' },
    env: { SPENDGATE_ADMIN_TOKEN: TOKEN },
  });
  await proxy.waitForAdmin();
  const post = (body) => admin(proxy, '/admin/emergency-stop', { method: 'POST', body: JSON.stringify(body) });

  // A typo of "for" must not start an endless stop (SPEC §2: a typo never silently changes protection).
  for (const [body, named] of [
    [{ active: true, reason: 'maint', fro: '10m' }, '"fro"'],
    [{ active: false, Active: true }, '"Active"'],
    [{ active: true, reason: 42 }, '"reason"'],
    [{ active: true, reason: null }, '"reason"'],
    // Turning off takes nothing else: a reason or duration would be dropped silently.
    [{ active: false, reason: 'z', for: '1h' }, '"reason"'],
    [{ active: false, for: '1h' }, '"for"'],
  ]) {
    const res = await post(body);
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.status} ${res.text}`);
    assert.ok(res.json().error.includes(named), `${JSON.stringify(body)}: error names ${named}: ${res.text}`);
    const state = (await admin(proxy, '/admin/emergency-stop')).json();
    assert.equal(state.active, false, `${JSON.stringify(body)} left the stop off: ${JSON.stringify(state)}`);
  }
  assert.equal((await chat(proxy, 'gpt-4o-mini')).status, 200, 'requests still served');

  // The accepted keys still work.
  let res = await post({ active: true, reason: 'maint', for: '10m' });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json().active, true);
  res = await post({ active: false });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json().active, false);
  await proxy.stopClean();
});

// --- Prometheus text parsing ----------------------------------------------------------------

function parseLabels(s) {
  const labels = {};
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/gy;
  let m;
  while ((m = re.exec(s)) !== null) labels[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  assert.equal(re.lastIndex === 0 ? s.trim().length : re.lastIndex, s.length, `bad label set {${s}}`);
  return labels;
}

function parseProm(text) {
  const samples = [];
  const types = {};
  const helps = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let m;
    if ((m = /^# TYPE ([A-Za-z_:][A-Za-z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) { types[m[1]] = m[2]; continue; }
    if ((m = /^# HELP ([A-Za-z_:][A-Za-z0-9_:]*) (.*)$/.exec(line))) { helps[m[1]] = m[2]; continue; }
    if (line.startsWith('#')) continue;
    m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    assert.ok(m, `unparseable metrics line: ${JSON.stringify(line)}`);
    samples.push({ name: m[1], labels: m[2] ? parseLabels(m[2]) : {}, raw: m[3], value: Number(m[3]) });
  }
  return { samples, types, helps };
}

const matches = (labels, want) => Object.entries(want).every(([k, v]) => labels[k] === v);
function find(prom, name, want = {}) {
  return prom.samples.filter((s) => s.name === name && matches(s.labels, want));
}
function one(prom, name, want, text) {
  const f = find(prom, name, want);
  assert.equal(f.length, 1, `expected exactly one ${name}${JSON.stringify(want)}, found ${f.length}:\n${
    prom.samples.filter((s) => s.name === name).map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.raw}`).join('\n') || text}`);
  return f[0];
}

function assertHistogram(prom, base, text) {
  assert.equal(prom.types[base], 'histogram', `# TYPE ${base} histogram`);
  const counts = find(prom, `${base}_count`);
  assert.ok(counts.length > 0, `no ${base}_count in\n${text}`);
  let total = 0;
  for (const c of counts) {
    const key = JSON.stringify(c.labels);
    const buckets = find(prom, `${base}_bucket`, c.labels).filter((b) => Object.keys(b.labels).length === Object.keys(c.labels).length + 1);
    assert.ok(buckets.length >= 2, `${base}${key}: buckets ${buckets.length}`);
    const les = buckets.map((b) => b.labels.le);
    assert.equal(les[les.length - 1], '+Inf', `${base}${key}: last bucket le=${les[les.length - 1]}`);
    const bounds = les.map((l) => (l === '+Inf' ? Infinity : Number(l)));
    for (let i = 1; i < bounds.length; i++) assert.ok(bounds[i] > bounds[i - 1], `${base}${key}: le not increasing: ${les.join(',')}`);
    const values = buckets.map((b) => b.value);
    for (let i = 1; i < values.length; i++) {
      assert.ok(values[i] >= values[i - 1], `${base}${key}: bucket counts decrease at le=${les[i]}: ${values.join(',')}`);
    }
    assert.equal(values[values.length - 1], c.value, `${base}${key}: le="+Inf" bucket ${values[values.length - 1]} != _count ${c.value}`);
    const sum = one(prom, `${base}_sum`, c.labels, text);
    assert.ok(sum.value >= 0 && Number.isFinite(sum.value), `${base}_sum ${sum.raw}`);
    total += c.value;
  }
  return total;
}

/** A proxy with an admin token and no rules, for tests of the admin routes themselves. */
async function plainProxy(t) {
  const fake = await startUpstream({ handler: fakeOpenai().handler });
  t.after(() => fake.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: fake.url }),
    admin: { listen: '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' },
    env: { SPENDGATE_ADMIN_TOKEN: TOKEN },
  });
  await proxy.waitForAdmin();
  return proxy;
}

// Audit 14: a body over the admin listener's 1 MiB was answered by a closed connection.
test('an admin request body over 1 MiB -> 413, a head over 8 KiB -> 431, and the listener goes on', async (t) => {
  const proxy = await startProxy(t, {
    admin: { listen: '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' },
    env: { SPENDGATE_ADMIN_TOKEN: TOKEN },
  });
  await proxy.waitForAdmin();
  const big = JSON.stringify({ active: true, reason: 'x'.repeat(1024 * 1024 + 10) });
  const res = await admin(proxy, '/admin/emergency-stop', { method: 'POST', body: big });
  assert.equal(res.status, 413, res.text);
  assert.match(res.json().error, /larger than 1048576 bytes/);
  const head = await request(`${proxy.adminUrl}/healthz`, { headers: { 'x-big': 'y'.repeat(9000) } });
  assert.equal(head.status, 431, head.text);
  const stop = await admin(proxy, '/admin/emergency-stop');
  assert.equal(stop.json().active, false, 'nothing changed');
  assert.equal((await request(`${proxy.adminUrl}/healthz`)).status, 200);
  await proxy.stopClean();
});

// A client that sends the whole over-long body in one go (as curl does) read EPIPE, not the 413:
// the listener closed with the body unread, and the reset cut the client's writes.
test('a client still sending a refused admin body reads the 413 (lingering close)', async (t) => {
  const proxy = await startProxy(t, {
    admin: { listen: '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' },
    env: { SPENDGATE_ADMIN_TOKEN: TOKEN },
  });
  await proxy.waitForAdmin();
  const { hostname, port } = new URL(proxy.adminUrl);
  const body = 'x'.repeat(3 * 1024 * 1024);
  for (let i = 0; i < 3; i++) {
    const { got, error } = await sendUntilClosed(port,
      `POST /admin/emergency-stop HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      (socket) => { socket.write(body); }, { host: hostname });
    assert.match(got, /^HTTP\/1\.1 413 /, `round ${i}: ${error ?? 'no error'}, got ${JSON.stringify(got.slice(0, 80))}`);
  }
  assert.equal((await request(`${proxy.adminUrl}/healthz`)).status, 200);
  await proxy.stopClean();
});

test('405 answers carry Allow (RFC 9110)', async (t) => {
  const proxy = await plainProxy(t);
  for (const [method, path, allow] of [
    ['GET', '/admin/reload', 'POST'], ['HEAD', '/admin/reload', 'POST'], ['POST', '/admin/budgets', 'GET, HEAD'],
    ['DELETE', '/admin/emergency-stop', 'GET, HEAD, POST'], ['PUT', '/admin/emergency-stop', 'GET, HEAD, POST'],
    ['POST', '/admin/spend', 'GET, HEAD'], ['POST', '/admin/alerts', 'GET, HEAD'], ['POST', '/admin/status', 'GET, HEAD'],
    ['POST', '/metrics', 'GET, HEAD'],
  ]) {
    const res = await admin(proxy, path, { method });
    assert.equal(res.status, 405, `${method} ${path}: ${res.status} ${res.text}`);
    assert.equal(res.headers.allow, allow, `${method} ${path} Allow: ${JSON.stringify(res.headers)}`);
  }
  await proxy.stopClean();
});

test('/healthz and /readyz take GET and HEAD only: another method is a 405 with Allow, like every other route', async (t) => {
  // They answered 200 "ok" to POST, PUT and DELETE.
  const proxy = await plainProxy(t);
  for (const method of ['POST', 'PUT', 'DELETE']) {
    for (const [path, token] of [['/healthz', ''], ['/readyz', TOKEN]]) {
      const res = await admin(proxy, path, { method, token });
      assert.equal(res.status, 405, `${method} ${path}: ${res.status} ${res.text}`);
      assert.equal(res.headers.allow, 'GET, HEAD', `${method} ${path} Allow: ${JSON.stringify(res.headers)}`);
    }
  }
  for (const method of ['GET', 'HEAD']) {
    assert.equal((await admin(proxy, '/healthz', { method, token: '' })).status, 200, `${method} /healthz without a token`);
    assert.equal((await admin(proxy, '/readyz', { method })).status, 200, `${method} /readyz`);
  }
  assert.equal((await admin(proxy, '/readyz', { token: '' })).status, 401, '/readyz still wants the token');
  await proxy.stopClean();
});

test('/admin/spend skips empty query parameters (?, &&, a trailing &) and names an unknown one', async (t) => {
  const proxy = await plainProxy(t);
  for (const path of ['/admin/spend?', '/admin/spend?by=model&', '/admin/spend?&period=day', '/admin/spend?by=model&&period=day']) {
    const res = await admin(proxy, path);
    assert.equal(res.status, 200, `${path}: ${res.text}`);
    assert.equal(res.json().period, 'day', path);
  }
  const bad = await admin(proxy, '/admin/spend?by=model&colour=red');
  assert.equal(bad.status, 400, bad.text);
  assert.match(bad.json().error, /unknown parameter 'colour'/);
  await proxy.stopClean();
});

test('/metrics parsed back equals what was sent and the ledger', async (t) => {
  const up = fakeOpenai();
  const fake = await startUpstream({ handler: up.handler });
  t.after(() => fake.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: fake.url }),
    admin: { listen: '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' },
    env: { SPENDGATE_ADMIN_TOKEN: TOKEN },
    extra: {
      pricing: { unknown_model: 'reject' },
      budgets: [{ name: 'daily-all', scope: 'global', period: 'day', limit_usd: 5, mode: 'hard' }],
      rate_limits: [{ name: 'nano-one', scope: 'global', match: { model: 'gpt-4.1-nano' }, requests_per_minute: 1 }],
    },
  });
  await proxy.waitForAdmin();

  const MINI = 3;
  for (let i = 0; i < MINI; i++) {
    const r = await chat(proxy, 'gpt-4o-mini');
    assert.equal(r.status, 200, `mini #${i}: ${r.status} ${r.text}`);
  }
  let r = await chat(proxy, 'gpt-4.1-nano');
  assert.equal(r.status, 200, `nano #1: ${r.status} ${r.text}`);
  r = await chat(proxy, 'gpt-4.1-nano');
  assert.equal(r.status, 429, `nano #2 should hit the 1/min rate limit: ${r.status} ${r.text}`);
  assert.equal(r.headers['x-spendgate-denied'], 'rate_limit');
  r = await chat(proxy, 'no-such-model-xyz');
  assert.equal(r.status, 400, `unknown model: ${r.status} ${r.text}`);
  assert.equal(r.headers['x-spendgate-denied'], 'unknown_model');

  const lines = await waitForLedger(ledgerPathOf(proxy), MINI + 1);
  const byModel = {};
  for (const { raw, json: j } of lines) {
    const s = (byModel[j.model] ??= { pico: 0n, input: 0, output: 0, n: 0 });
    s.pico += usdToPico(rawMember(raw, 'cost_usd'));
    s.input += j.input_tokens;
    s.output += j.output_tokens;
    s.n++;
  }
  const totalPico = Object.values(byModel).reduce((a, s) => a + s.pico, 0n);
  const miniModel = lines.find((l) => l.json.requested_model === 'gpt-4o-mini' || l.json.model?.startsWith('gpt-4o-mini')).json.model;

  const res = await admin(proxy, '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] ?? '', /^text\/plain/, `content-type ${res.headers['content-type']}`);
  const text = res.text;
  const prom = parseProm(text);

  for (const name of ['spendgate_requests_total', 'spendgate_denied_total', 'spendgate_spend_usd_total', 'spendgate_tokens_total']) {
    assert.equal(prom.types[name], 'counter', `# TYPE ${name} counter`);
    assert.ok(prom.helps[name], `# HELP ${name}`);
  }
  for (const name of ['spendgate_budget_spent_usd', 'spendgate_budget_limit_usd', 'spendgate_emergency_stop', 'spendgate_store_up']) {
    assert.equal(prom.types[name], 'gauge', `# TYPE ${name} gauge`);
  }

  // Requests: every mini request, labelled with the provider, model and status.
  const reqMini = one(prom, 'spendgate_requests_total', { provider: 'openai', model: miniModel, status: '200' }, text);
  assert.equal(reqMini.value, MINI, `spendgate_requests_total{model="${miniModel}",status="200"}`);
  const req200 = find(prom, 'spendgate_requests_total', { status: '200' }).reduce((a, s) => a + s.value, 0);
  assert.equal(req200, MINI + 1, 'sum of spendgate_requests_total{status="200"}');

  // Denials.
  assert.equal(one(prom, 'spendgate_denied_total', { reason: 'rate_limit' }, text).value, 1, 'denied rate_limit');
  assert.equal(one(prom, 'spendgate_denied_total', { reason: 'unknown_model' }, text).value, 1, 'denied unknown_model');
  for (const s of find(prom, 'spendgate_denied_total')) {
    if (!['rate_limit', 'unknown_model'].includes(s.labels.reason)) assert.equal(s.value, 0, `denied ${s.labels.reason}`);
  }

  // Spend and tokens per model equal the ledger exactly.
  for (const [model, s] of Object.entries(byModel)) {
    const spend = one(prom, 'spendgate_spend_usd_total', { provider: 'openai', model }, text);
    assert.equal(picoToUsd(usdToPico(spend.raw)), picoToUsd(s.pico), `spendgate_spend_usd_total{model="${model}"} ${spend.raw}`);
    assert.equal(one(prom, 'spendgate_tokens_total', { provider: 'openai', model, kind: 'input' }, text).value, s.input,
      `tokens input ${model}`);
    assert.equal(one(prom, 'spendgate_tokens_total', { provider: 'openai', model, kind: 'output' }, text).value, s.output,
      `tokens output ${model}`);
  }
  assert.equal(byModel[miniModel].input, MINI * USAGE['gpt-4o-mini'].prompt);
  assert.equal(byModel[miniModel].output, MINI * USAGE['gpt-4o-mini'].completion);

  // Budget gauges.
  const spent = one(prom, 'spendgate_budget_spent_usd', { budget: 'daily-all' }, text);
  assert.equal(picoToUsd(usdToPico(spent.raw)), picoToUsd(totalPico), `spendgate_budget_spent_usd{budget="daily-all"} ${spent.raw}`);
  assert.equal(spent.labels.subject ?? '', '', 'global budget subject');
  const limit = one(prom, 'spendgate_budget_limit_usd', { budget: 'daily-all' }, text);
  assert.equal(limit.value, 5);

  assert.equal(one(prom, 'spendgate_emergency_stop', {}, text).value, 0);
  assert.equal(one(prom, 'spendgate_store_up', {}, text).value, 1);

  const upstreamCount = assertHistogram(prom, 'spendgate_upstream_seconds', text);
  assert.equal(upstreamCount, MINI + 1, 'spendgate_upstream_seconds_count = forwarded requests');
  const overheadCount = assertHistogram(prom, 'spendgate_overhead_seconds', text);
  assert.ok(overheadCount >= MINI + 1, `spendgate_overhead_seconds_count ${overheadCount}`);

  await proxy.stopClean();
});

// --- hot reload -----------------------------------------------------------------------------

/** Stream a chat request; resolves chunks as they come. */
function startStream(proxy, model) {
  const st = { chunks: [], firstChunk: null, done: null, status: null, headers: null, finished: false };
  let onFirst;
  st.firstChunk = new Promise((r) => { onFirst = r; });
  st.done = new Promise((resolve, reject) => {
    const req = http.request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST', agent: false,
      headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' },
    }, (res) => {
      st.status = res.statusCode;
      st.headers = res.headers;
      res.on('data', (c) => { st.chunks.push({ at: Date.now(), c }); onFirst(); });
      res.on('aborted', () => reject(new Error('stream aborted')));
      res.on('error', reject);
      res.on('end', () => { st.finished = true; resolve(Buffer.concat(st.chunks.map((x) => x.c)).toString('utf8')); });
    });
    req.setTimeout(20_000, () => req.destroy(new Error('stream client timeout')));
    req.on('error', reject);
    req.end(JSON.stringify({
      model, max_tokens: 300, stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'hi' }],
    }));
  });
  return st;
}

async function until(fn, what, timeout = 5000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeout} ms: ${what}`);
    await sleep(50);
  }
}

test('/metrics writes "no model" one way, model="-", in requests, spend and tokens alike (GET /v1/models names none)', async (t) => {
  const fake = await startUpstream({ handler: (req, res) => json(res, 200, { object: 'list', data: [] }) });
  t.after(() => fake.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: fake.url }),
    admin: { listen: '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' },
    env: { SPENDGATE_ADMIN_TOKEN: TOKEN },
  });
  await proxy.waitForAdmin();
  const res = await request(`${proxy.url}/v1/models`, { headers: { authorization: 'Bearer sk-test' } });
  assert.equal(res.status, 200, res.text);
  await waitForLedger(ledgerPathOf(proxy), 1, { what: 'GET /v1/models' });
  const text = (await admin(proxy, '/metrics')).text;
  const prom = parseProm(text);
  for (const name of ['spendgate_requests_total', 'spendgate_spend_usd_total', 'spendgate_tokens_total']) {
    for (const s of find(prom, name)) assert.notEqual(s.labels.model, '', `${name}${JSON.stringify(s.labels)}: an empty model label`);
  }
  one(prom, 'spendgate_requests_total', { provider: 'openai', model: '-', status: '200' }, text);
  one(prom, 'spendgate_spend_usd_total', { provider: 'openai', model: '-' }, text);
  await proxy.stopClean();
});

test('hot reload (POST /admin/reload and SIGHUP) with a stream in flight; a bad config is refused', async (t) => {
  const contents = Array.from({ length: 9 }, (_, i) => `part ${i} `); // 9 + 3 frames at 200 ms ≈ 2.4 s
  const up = fakeOpenai({ eventMs: 200, contents });
  const fake = await startUpstream({ handler: up.handler });
  t.after(() => fake.close());
  const provs = await providers({ openai: fake.url });

  const config = (ports, { limit = 5, rateLimits, bogus } = {}) => {
    const c = {
      server: defaultServer(ports ? { listen: `127.0.0.1:${ports.proxy}` } : {}),
      admin: { listen: ports ? ports.admin : '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' },
      providers: provs,
      ledger: { path: 'ledger.jsonl' },
      budgets: [{ name: 'daily-all', scope: 'global', period: 'day', limit_usd: limit, mode: 'hard' }],
    };
    if (rateLimits) c.rate_limits = rateLimits;
    let text = toYaml(c);
    if (bogus) text += bogus;
    return text;
  };

  const proxy = await startProxy(t, { configText: config(null), env: { SPENDGATE_ADMIN_TOKEN: TOKEN } });
  await proxy.waitForAdmin();
  const ports = { proxy: proxy.port, admin: new URL(proxy.adminUrl).host };
  const ledger = ledgerPathOf(proxy);
  const budget = async () => {
    const res = await admin(proxy, '/admin/budgets');
    assert.equal(res.status, 200, res.text);
    const b = res.json().find((x) => x.name === 'daily-all');
    assert.ok(b, `no daily-all budget: ${res.text}`);
    return b;
  };
  const ledgerTotal = (lines) => lines.reduce((a, l) => a + usdToPico(rawMember(l.raw, 'cost_usd')), 0n);

  // Before: no rate limit headers.
  for (let i = 0; i < 2; i++) {
    const r = await chat(proxy, 'gpt-4o-mini');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-ratelimit-limit-requests'], undefined, 'no rate limit configured yet');
  }
  let lines = await waitForLedger(ledger, 2);
  const spentBefore = await budget();
  assert.equal(picoToUsd(usdToPico(String(spentBefore.spent_usd))), picoToUsd(ledgerTotal(lines)));

  // A slow stream in flight.
  const stream = startStream(proxy, 'gpt-4o-mini');
  await Promise.race([stream.firstChunk, stream.done, sleep(5000).then(() => assert.fail('stream: no first chunk in 5 s'))]);
  assert.equal(stream.status, 200);

  // Reload over HTTP: add a rate limit and raise the budget.
  writeFileSync(proxy.configPath, config(ports, { limit: 6, rateLimits: [{ name: 'after-reload', scope: 'global', requests_per_minute: 100 }] }));
  let res = await admin(proxy, '/admin/reload', { method: 'POST' });
  assert.equal(res.status, 200, `POST /admin/reload: ${res.status} ${res.text}\n${proxy.describe()}`);
  const ok = res.json();
  assert.equal(ok.reloaded, true, res.text);
  // The brief says {"reloaded":true}; the binary adds "errors": [] (same shape as a refusal). Accept an empty list only.
  assert.deepEqual(ok.errors ?? [], [], `errors on a good reload: ${res.text}`);
  // Naming the ports that port 0 picked asks for what is in use: nothing waits for a restart.
  assert.deepEqual(ok.warnings, [], `warnings on a good reload: ${res.text}`);
  assert.equal(stream.finished, false, 'the stream should still be in flight during the reload');

  // A new request sees the new rule.
  let r = await chat(proxy, 'gpt-4o-mini');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers['x-ratelimit-limit-requests'], '100', `x-ratelimit-limit-requests after reload: ${JSON.stringify(r.headers)}`);
  assert.ok(r.headers['x-ratelimit-remaining-requests'] !== undefined, 'x-ratelimit-remaining-requests');
  let b = await budget();
  assert.equal(b.limit_usd, 6, 'new budget limit');

  // SIGHUP: another rewrite, the rule changes again, the stream is still running.
  writeFileSync(proxy.configPath, config(ports, { limit: 7, rateLimits: [{ name: 'after-reload', scope: 'global', requests_per_minute: 50 }] }));
  proxy.proc.kill('SIGHUP');
  r = await until(async () => {
    assert.ok(proxy.alive(), `SIGHUP killed spendgate\n${proxy.describe()}`);
    const x = await chat(proxy, 'gpt-4o-mini');
    assert.equal(x.status, 200, x.text);
    return x.headers['x-ratelimit-limit-requests'] === '50' ? x : null;
  }, 'rate limit 50 after SIGHUP');
  b = await budget();
  assert.equal(b.limit_usd, 7, 'budget limit after SIGHUP');
  const sighupDuringStream = !stream.finished;

  // The stream completes intact: exactly the upstream's bytes (the client asked for usage itself).
  const body = await stream.done;
  assert.equal(body, up.state.streamFrames.join(''), 'stream relayed intact across the reloads');
  assert.equal(stream.chunks.length >= 4, true, `stream arrived in ${stream.chunks.length} chunk(s) (should be incremental)`);
  assert.ok(body.endsWith('data: [DONE]\n\n'));

  // Counters kept: the budget's spent equals every settled request (none reset).
  lines = await waitForLedger(ledger, fake.requests.length, { what: 'every forwarded request' });
  b = await budget();
  assert.equal(picoToUsd(usdToPico(String(b.spent_usd))), picoToUsd(ledgerTotal(lines)), 'spent_usd after reloads = ledger total');
  assert.ok(usdToPico(String(b.spent_usd)) > usdToPico(String(spentBefore.spent_usd)), 'spent grew, never reset');
  assert.equal(lines.filter((l) => l.json.stream === true).length, 1, 'the stream settled once');

  // A bad config (unknown key) is refused with FILE:LINE:COL, the old rules stay.
  const good = readFileSync(proxy.configPath, 'utf8');
  const badText = config(ports, { limit: 1, rateLimits: [{ name: 'after-reload', scope: 'global', requests_per_minute: 2 }] })
    .replace('  - name: daily-all\n', '  - name: daily-all\n    limt_usd: 3\n');
  assert.notEqual(badText, good);
  assert.ok(badText.includes('limt_usd'), badText);
  const badLine = badText.split('\n').findIndex((l) => l.includes('limt_usd')) + 1;
  writeFileSync(proxy.configPath, badText);
  res = await admin(proxy, '/admin/reload', { method: 'POST' });
  assert.equal(res.status, 400, `POST /admin/reload with a bad config: ${res.status} ${res.text}`);
  const bad = res.json();
  assert.equal(bad.reloaded, false, res.text);
  assert.ok(Array.isArray(bad.errors) && bad.errors.length >= 1, res.text);
  assert.match(bad.errors[0], /^.+:\d+:\d+: .+/, `error format FILE:LINE:COL: message: ${bad.errors[0]}`);
  const m = /^(.+):(\d+):(\d+): (.+)$/.exec(bad.errors[0]);
  assert.ok(m[1].endsWith('spendgate.yaml'), `FILE ${m[1]}`);
  assert.equal(Number(m[2]), badLine, `LINE of the unknown key (${bad.errors[0]})`);
  assert.match(m[4], /limt_usd/, 'message names the unknown key');

  const checkOldRules = async (what) => {
    const x = await chat(proxy, 'gpt-4o-mini');
    assert.equal(x.status, 200, `${what}: ${x.text}`);
    assert.equal(x.headers['x-ratelimit-limit-requests'], '50', `${what}: old rate limit still applies`);
    const bb = await budget();
    assert.equal(bb.limit_usd, 7, `${what}: old budget limit still applies`);
  };
  await checkOldRules('after refused HTTP reload');

  // SIGHUP with the bad config: survives, old rules stay.
  proxy.proc.kill('SIGHUP');
  await until(async () => proxy.alive() && (await admin(proxy, '/healthz', { token: null })).status === 200, 'healthz after bad SIGHUP');
  await sleep(200); // give a (wrong) reload the time to apply before checking it did not
  assert.ok(proxy.alive(), `bad-config SIGHUP killed spendgate\n${proxy.describe()}`);
  await checkOldRules('after refused SIGHUP reload');
  if (!sighupDuringStream) t.diagnostic('the stream had finished before the SIGHUP reload applied');

  await proxy.stopClean();
});


test('POST /admin/reload applies what it can and names in "warnings" what changes only on restart', async (t) => {
  const proxy = await startProxy(t, {
    admin: { listen: '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' },
    env: { SPENDGATE_ADMIN_TOKEN: TOKEN },
  });
  await proxy.waitForAdmin();
  const reload = async (text) => {
    writeFileSync(proxy.configPath, text);
    const res = await admin(proxy, '/admin/reload', { method: 'POST' });
    assert.equal(res.status, 200, `POST /admin/reload: ${res.status} ${res.text}`);
    const body = res.json();
    assert.equal(body.reloaded, true, res.text);
    assert.deepEqual(body.errors, [], res.text);
    return body.warnings;
  };
  assert.deepEqual(await reload(proxy.configText), [], 'the same config: nothing to warn about');
  assert.match(proxy.configText, /threads: 1/);
  const changed = proxy.configText.replace(/threads: 1/, 'threads: 2')
    .replace(/ledger:\n  path: .*\n/, `ledger:\n  path: ${proxy.dir}/other-ledger.jsonl\n`)
    + 'budgets:\n  - { name: after, scope: global, period: day, limit_usd: 5 }\n';
  assert.notEqual(changed.indexOf('other-ledger'), -1, `test setup: ledger path not replaced in\n${proxy.configText}`);
  const warnings = await reload(changed);
  assert.equal(warnings.length, 2, warnings.join('\n'));
  assert.ok(warnings.some((w) => w.startsWith('server.threads') && /restart/.test(w)), warnings.join('\n'));
  assert.ok(warnings.some((w) => w.startsWith('ledger.path') && /restart/.test(w)), warnings.join('\n'));
  // The rest was applied.
  const budgets = await admin(proxy, '/admin/budgets');
  assert.deepEqual(budgets.json().map((b) => b.name), ['after']);
  // Compared with what runs, not the last reload: a second reload still says so.
  assert.equal((await reload(changed)).length, 2);
  await proxy.stopClean();
});

test('POST /admin/reload that changes admin.token_env says in "warnings" that the token changes only on restart; the old token keeps working', async (t) => {
  // The admin listener keeps the token it started with: a reload that names another variable
  // was applied silently, so an operator rotating the token by reload believed it rotated.
  const proxy = await startProxy(t, {
    admin: { listen: '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' },
    env: { SPENDGATE_ADMIN_TOKEN: TOKEN, SPENDGATE_OTHER_ADMIN_TOKEN: 'rotated-token' },
  });
  await proxy.waitForAdmin();
  assert.match(proxy.configText, /token_env: SPENDGATE_ADMIN_TOKEN/);
  writeFileSync(proxy.configPath, proxy.configText.replace(/token_env: SPENDGATE_ADMIN_TOKEN/, 'token_env: SPENDGATE_OTHER_ADMIN_TOKEN'));
  const res = await admin(proxy, '/admin/reload', { method: 'POST' });
  assert.equal(res.status, 200, `POST /admin/reload: ${res.status} ${res.text}`);
  const { warnings } = res.json();
  assert.ok(warnings.some((w) => w.startsWith('admin.token_env') && /restart/.test(w)), `warnings: ${JSON.stringify(warnings)}`);
  assert.ok(!warnings.some((w) => w.includes('rotated-token')), 'no token value in the warnings');
  assert.equal((await admin(proxy, '/admin/status')).status, 200, 'the token in use still works');
  await proxy.stopClean();
});

test('POST /admin/reload and SIGHUP refuse what check refuses: a bad catalog file, a match on no provider', async (t) => {
  const proxy = await startProxy(t, {
    admin: { listen: '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' },
    extra: { budgets: [{ name: 'before', scope: 'global', period: 'day', limit_usd: 5, mode: 'hard' }] },
    env: { SPENDGATE_ADMIN_TOKEN: TOKEN },
  });
  await proxy.waitForAdmin();
  writeFileSync(`${proxy.dir}/cat.yaml`, 'version: "1"\ndate: "2026-01-01"\nmodels:\n  m1: { input: x, output: 2 }\n');
  const base = proxy.configText.replace(/^budgets:[\s\S]*$/m, '');
  // The loader's errors come first: a catalog is only read from a config that loads.
  const reload = async (text) => {
    writeFileSync(proxy.configPath, text);
    const res = await admin(proxy, '/admin/reload', { method: 'POST' });
    assert.equal(res.status, 400, `POST /admin/reload: ${res.status} ${res.text}`);
    assert.equal(res.json().reloaded, false, res.text);
    return res.json().errors;
  };
  let errors = await reload(`${base}pricing: { catalog: cat.yaml }\n`);
  assert.ok(errors.some((e) => /^cat\.yaml:4:\d+: models\.m1\.input: /.test(e)), errors.join('\n'));
  errors = await reload(`${base}budgets:\n  - { name: after, match: { provider: opneai }, limit_usd: 5 }\n`);
  assert.ok(errors.some((e) => e.startsWith(`${proxy.configPath}:`) && /opneai/.test(e)), errors.join('\n'));

  proxy.proc.kill('SIGHUP');
  await sleep(500);
  assert.ok(proxy.alive(), `SIGHUP with a bad config killed spendgate\n${proxy.describe()}`);
  const budgets = await admin(proxy, '/admin/budgets');
  assert.deepEqual(budgets.json().map((b) => b.name), ['before'], 'the old config stays');
  await proxy.stopClean();
});
