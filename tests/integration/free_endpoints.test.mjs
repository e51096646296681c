// Free token-counting endpoints (Anthropic count_tokens, Gemini :countTokens, OpenAI
// /v1/responses/input_tokens) cost nothing: no per-request limit, budget or unknown-model rule may
// refuse them, and they reserve nothing. Gemini embeddings are billed, input only. Paid endpoints
// spendgate cannot price (images, audio, batches...) pass while their hard budgets have anything
// left and are refused once one is used up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { randomBytes } from 'node:crypto';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json } from './lib/fake_upstream.mjs';
import { request } from './lib/http.mjs';
import { ledgerPathOf, waitForLedger, waitForEntry, sha256hex } from './lib/ledger.mjs';
import { assertDenied, adminBudget } from './lib/enforcement.mjs';

async function setup(t, extra) {
  const up = await startUpstream({
    handler: (req, res, rec) => {
      if (rec.url.includes('embedContent')) return json(res, 200, { embedding: { values: [0.1, 0.2] } });
      if (rec.url.includes('countTokens')) return json(res, 200, { totalTokens: 12 });
      return json(res, 200, { input_tokens: 12 });
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    extra,
  });
  return { up, proxy };
}

const messages = [{ role: 'user', content: 'how many tokens is this?' }];
const counting = [
  { format: 'anthropic', path: '/v1/messages/count_tokens', headers: { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' }, body: { model: 'claude-sonnet-4-5', messages } },
  { format: 'gemini', path: '/v1beta/models/gemini-2.5-pro:countTokens', headers: { 'x-goog-api-key': 'gm-test' }, body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] } },
  { format: 'openai', path: '/v1/responses/input_tokens', headers: { authorization: 'Bearer sk-test' }, body: { model: 'gpt-4o', input: 'hi' } },
];

const post = (proxy, c, body = c.body) => request(`${proxy.url}${c.path}`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', ...c.headers },
  body: JSON.stringify(body),
});

test('count_tokens / countTokens / responses/input_tokens pass a tiny request_limits.max_cost_usd and a spent hard budget, reserve nothing and cost 0', async (t) => {
  const { up, proxy } = await setup(t, {
    request_limits: { max_cost_usd: 0.01 },
    budgets: [{ name: 'tiny', scope: 'global', period: 'day', limit_usd: 0.000001, mode: 'hard' }],
  });
  for (const c of counting) {
    const r = await post(proxy, c);
    assert.equal(r.status, 200, `${c.path}: ${r.status} ${r.text}`);
    assert.equal(r.headers['x-spendgate-denied'], undefined, c.path);
    assert.equal(r.headers['x-spendgate-cost-usd'], '0', c.path);
  }
  assert.equal(up.requests.length, counting.length, 'every counting call was forwarded');
  const b = await adminBudget(proxy.adminUrl, 'tiny');
  assert.equal(b.reserved_usd, 0, 'nothing reserved');
  assert.equal(b.spent_usd, 0, 'nothing spent');

  // A billable call is still refused by both rules: they are in force.
  const chat = await request(`${proxy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify({ model: 'gpt-4o', messages }),
  });
  assertDenied(chat, 'request_cost');
  await proxy.stopClean();
});

test('ledger lines of unmetered endpoints (counting calls, GET /v1/models) say price_source "unmetered", usage_source "provider", cost 0', async (t) => {
  const { proxy } = await setup(t, {});
  for (const c of counting) assert.equal((await post(proxy, c)).status, 200, c.path);
  const models = await request(`${proxy.url}/v1/models`, { headers: { authorization: 'Bearer sk-test' } });
  assert.equal(models.status, 200, models.text);
  const lines = await waitForLedger(ledgerPathOf(proxy), counting.length + 1, { what: 'unmetered ledger lines' });
  for (const { json: line, raw } of lines) {
    assert.equal(line.price_source, 'unmetered', raw);
    assert.equal(line.usage_source, 'provider', raw);
    assert.equal(line.cost_usd, 0, raw);
  }
  await proxy.stopClean();
});

test('unknown_model: reject does not refuse counting calls for an unpriced model', async (t) => {
  const { up, proxy } = await setup(t, { pricing: { unknown_model: 'reject' } });
  for (const c of counting) {
    const body = { ...c.body, model: 'acme-secret-model' };
    const r = await post(proxy, c, body);
    assert.equal(r.status, 200, `${c.path}: ${r.status} ${r.text}`);
  }
  const gemini = { ...counting[1], path: '/v1beta/models/acme-secret-model:countTokens' };
  assert.equal((await post(proxy, gemini)).status, 200, 'gemini unpriced path model');
  assert.equal(up.requests.length, counting.length + 1);
  await proxy.stopClean();
});

test('Gemini :embedContent is billed at the embedding input price, input only: worst case passes a limit a generation would not', async (t) => {
  // gemini-embedding-001: 0.15 USD / 1M input tokens, no output. The body is ~70 bytes, so the
  // worst case is ~1e-5 USD; an output bound at any generation rate would be far above 0.0001.
  const { proxy } = await setup(t, { request_limits: { max_cost_usd: 0.0001 } });
  const c = { path: '/v1beta/models/gemini-embedding-001:embedContent', headers: { 'x-goog-api-key': 'gm-test' }, body: { content: { parts: [{ text: 'hello embeddings' }] } } };
  const r = await post(proxy, c);
  assert.equal(r.status, 200, `${r.status} ${r.text}`);
  const [{ json: line }] = await waitForLedger(ledgerPathOf(proxy), 1, { what: 'embedContent ledger line' });
  assert.equal(line.model, 'gemini-embedding-001');
  assert.equal(line.output_tokens, 0);
  assert.ok(line.input_tokens > 0, 'input estimated: the answer carries no usage');
  assert.equal(line.usage_source, 'estimated');
  assert.ok(line.cost_usd > 0, `billed: ${line.cost_usd}`);
  assert.equal(Number(r.headers['x-spendgate-cost-usd']), line.cost_usd);
  await proxy.stopClean();
});

async function imageSetup(t, limitUsd) {
  const up = await startUpstream({
    handler: (req, res, rec) => {
      if (rec.url.includes('/images/')) return json(res, 200, { created: 1, data: [{ url: 'https://example.invalid/cat.png' }] });
      if (rec.url.includes('/messages/batches')) return json(res, 200, { id: 'msgbatch_1', type: 'message_batch', processing_status: 'in_progress' });
      if (rec.url.endsWith('/models')) return json(res, 200, { object: 'list', data: [] });
      if (rec.url.endsWith('/chat/completions')) {
        // More output than the request's cap: the real cost lands above the budget's limit.
        return json(res, 200, { id: 'c', object: 'chat.completion', model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'length' }], usage: { prompt_tokens: 10, completion_tokens: 1000, total_tokens: 1010 } });
      }
      return json(res, 200, { id: 'batch_1', object: 'batch', status: 'cancelling' });
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    extra: { budgets: [{ name: 'org', scope: 'global', period: 'day', limit_usd: limitUsd, mode: 'hard' }] },
  });
  return { up, proxy };
}

test('openai SDK images.generate passes a hard budget with room left, reserves only until it settles, costs 0 ("unmetered")', async (t) => {
  const { up, proxy } = await imageSetup(t, 1);
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0 });
  const img = await client.images.generate({ model: 'gpt-image-1', prompt: 'a cat' });
  assert.equal(img.data[0].url, 'https://example.invalid/cat.png');
  assert.equal(up.requests.length, 1);
  const [{ json: line, raw }] = await waitForLedger(ledgerPathOf(proxy), 1, { what: 'images ledger line' });
  assert.equal(line.price_source, 'unmetered', raw);
  assert.equal(line.cost_usd, 0, raw);
  const b = await adminBudget(proxy.adminUrl, 'org');
  assert.equal(b.reserved_usd, 0, 'the hold is released when the request settles');
  assert.equal(b.spent_usd, 0);
  await proxy.stopClean();
});

test('a used-up hard budget refuses unpriced paid endpoints (openai SDK images, Anthropic batches) but not listings or cancels', async (t) => {
  const { up, proxy } = await imageSetup(t, 0.0001);
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 2 });
  // Worst case ~$0.00002 fits; the answer's 1 000 output tokens cost $0.0006: the budget is used up.
  await client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 1, messages });
  assert.ok((await adminBudget(proxy.adminUrl, 'org')).spent_usd > 0.0001);
  up.requests.length = 0;
  const err = await client.images.generate({ model: 'gpt-image-1', prompt: 'a cat' }).then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `expected RateLimitError, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.code, 'budget_exceeded');
  assert.match(err.error.message, /^Budget "org" is used up for this day: \$0\.0006015 spent of the \$0\.0001 limit\. spendgate cannot price this endpoint/);

  const batch = await request(`${proxy.url}/v1/messages/batches`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ requests: [{ custom_id: 'a', params: { model: 'claude-sonnet-4-5', max_tokens: 10, messages } }] }),
  });
  assertDenied(batch, 'budget', { format: 'anthropic', what: 'anthropic batch' });

  // Free: listing models, cancelling a batch.
  const models = await request(`${proxy.url}/v1/models`, { headers: { authorization: 'Bearer sk-test' } });
  assert.equal(models.status, 200, models.text);
  const cancel = await request(`${proxy.url}/v1/batches/batch_1/cancel`, { method: 'POST', headers: { authorization: 'Bearer sk-test' } });
  assert.equal(cancel.status, 200, cancel.text);
  assert.deepEqual(up.requests.map((r) => r.url), ['/v1/models', '/v1/batches/batch_1/cancel']);
  await proxy.stopClean();
});

// A virtual-key caller who mints a Realtime client secret holds a provider credential whose spend
// spendgate never sees: the budget check at minting is the only control. Eval runs and containers
// are billed too. All pass while the key's hard budget has room and are refused once it is used up.
test('openai SDK realtime.clientSecrets.create (and sessions, calls, eval runs, containers, vector stores) pass a virtual key\'s hard budget with room left and get 429 budget once it is used up', async (t) => {
  const up = await startUpstream({
    handler: (req, res, rec) => {
      if (rec.url.endsWith('/chat/completions')) {
        return json(res, 200, { id: 'c', object: 'chat.completion', model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'length' }], usage: { prompt_tokens: 10, completion_tokens: 1000, total_tokens: 1010 } });
      }
      if (rec.url.endsWith('/realtime/client_secrets')) {
        // The fake mints from the key it was sent, as the provider would.
        return json(res, 200, { value: `ek_minted_by_${rec.headers.authorization.slice(7)}`, expires_at: 9999999999, session: { type: 'realtime', model: 'gpt-realtime' } });
      }
      return json(res, 200, { id: 'x_1', object: 'thing' });
    },
  });
  t.after(() => up.close());
  const vk = `sg-vk-${randomBytes(16).toString('hex')}`;
  const real = `sk-real-${randomBytes(6).toString('hex')}`;
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url }, { openai: { api_key_env: 'SG_IT_OPENAI_KEY' } }),
    extra: {
      identity: { passthrough: false, virtual_keys: [{ id: 'intern', key_sha256: sha256hex(vk) }] },
      budgets: [{ name: 'intern-cap', scope: 'key', period: 'day', limit_usd: 0.0001, mode: 'hard' }],
    },
    env: { SG_IT_OPENAI_KEY: real },
  });
  const client = new OpenAI({ apiKey: vk, baseURL: `${proxy.url}/v1`, maxRetries: 0 });
  const session = { session: { type: 'realtime', model: 'gpt-realtime' } };
  const paid = [
    ['realtime.clientSecrets.create', '/v1/realtime/client_secrets', () => client.realtime.clientSecrets.create(session)],
    ['POST /realtime/sessions', '/v1/realtime/sessions', () => client.post('/realtime/sessions', { body: { model: 'gpt-4o-realtime-preview' } })],
    ['POST /realtime/transcription_sessions', '/v1/realtime/transcription_sessions', () => client.post('/realtime/transcription_sessions', { body: {} })],
    ['POST /realtime/calls', '/v1/realtime/calls', () => client.post('/realtime/calls', { body: { sdp: 'v=0' } })],
    ['evals.runs.create', '/v1/evals/eval_1/runs', () => client.evals.runs.create('eval_1', { data_source: { type: 'completions', source: { type: 'file_id', id: 'file_1' }, model: 'gpt-4o' } })],
    ['containers.create', '/v1/containers', () => client.containers.create({ name: 'c' })],
    ['vectorStores.create', '/v1/vector_stores', () => client.vectorStores.create({ name: 'v' })],
  ];

  // Room left: forwarded with the provider's key, costing nothing in the ledger.
  const minted = await client.realtime.clientSecrets.create(session);
  assert.equal(minted.value, `ek_minted_by_${real}`, 'the provider key is injected, the virtual key stays');
  for (const [, , call] of paid.slice(1)) await call();
  assert.deepEqual(up.requests.map((r) => r.url), paid.map(([, path]) => path));
  const lines = await waitForLedger(ledgerPathOf(proxy), paid.length, { what: 'paid creates ledger lines' });
  for (const { json: line, raw } of lines) {
    assert.equal(line.price_source, 'unmetered', raw);
    assert.equal(line.cost_usd, 0, raw);
    assert.equal(line.key, 'intern', raw);
  }

  // Use the budget up: 1 000 output tokens of gpt-4o-mini cost $0.0006015 > $0.0001.
  await client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 1, messages });
  assert.equal((await adminBudget(proxy.adminUrl, 'intern-cap')).reserved_usd, 0, 'each hold is released');
  up.requests.length = 0;
  for (const [name, , call] of paid) {
    const err = await call().then(() => null, (e) => e);
    assert.ok(err instanceof OpenAI.RateLimitError, `${name}: expected RateLimitError, got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.code, 'budget_exceeded', name);
    assert.equal(err.headers.get('x-spendgate-denied'), 'budget', name);
    assert.match(err.error.message, /^Budget "intern-cap" \(key intern\) is used up for this day: .* spendgate cannot price this endpoint/, name);
  }
  assert.equal(up.requests.length, 0, 'nothing was forwarded once the budget was used up');

  // Free: ending a call, cancelling an eval run, reading a client secret's session stay open.
  for (const path of ['/v1/realtime/calls/rtc_1/hangup', '/v1/evals/eval_1/runs/run_1/cancel']) {
    const r = await request(`${proxy.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${vk}` } });
    assert.equal(r.status, 200, `${path}: ${r.text}`);
  }
  assert.equal(up.requests.length, 2);
  await proxy.stopClean();
});

test('google-genai file uploads (POST /upload/v1beta/files) reach a gemini provider with default routes, unmetered, body and headers intact, the virtual key replaced, the upload session URL pointed back at the proxy', async (t) => {
  const up = await startUpstream({
    handler: (req, res, rec) => {
      if (rec.url.startsWith('/upload/v1beta/files') && rec.headers['x-goog-upload-command'] === 'start') {
        res.setHeader('x-goog-upload-url', `${up.url}/upload/v1beta/files?upload_id=UP1&upload_protocol=resumable`);
        res.setHeader('x-goog-upload-status', 'active');
        return json(res, 200, {});
      }
      return json(res, 200, { file: { name: 'files/abc123', mimeType: 'application/pdf', sizeBytes: String(rec.body.length) } });
    },
  });
  t.after(() => up.close());
  const real = `AIzaReal${randomBytes(6).toString('hex')}`;
  const vk = `sg-vk-${randomBytes(16).toString('hex')}`;
  // Providers named by format with no routes: the routes are the built-in defaults.
  const proxy = await startProxy(t, {
    providers: {
      openai: { format: 'openai', base_url: up.url },
      anthropic: { format: 'anthropic', base_url: up.url },
      gemini: { format: 'gemini', base_url: up.url, api_key_env: 'SG_IT_GEMINI_KEY' },
    },
    extra: {
      identity: { virtual_keys: [{ id: 'uploader', key_sha256: sha256hex(vk) }], passthrough: true },
      request_limits: { max_cost_usd: 0.000001 },
    },
    env: { SG_IT_GEMINI_KEY: real },
  });
  const ledger = ledgerPathOf(proxy);
  const file = randomBytes(4096);
  // The resumable protocol google-genai's files.upload speaks: start (JSON metadata), then the bytes.
  const start = await request(`${proxy.url}/upload/v1beta/files?uploadType=resumable`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json', 'x-goog-api-key': vk, 'x-goog-upload-protocol': 'resumable',
      'x-goog-upload-command': 'start', 'x-goog-upload-header-content-length': String(file.length),
      'x-goog-upload-header-content-type': 'application/pdf',
    },
    body: JSON.stringify({ file: { display_name: 'report.pdf' } }),
  });
  assert.equal(start.status, 200, start.text);
  // The session URL the provider handed out, pointed back at the proxy: the SDK sends the file
  // (and its key) there, so the bytes come through the proxy and the virtual key never leaves.
  const session = start.headers['x-goog-upload-url'];
  assert.equal(session, `${proxy.url}/upload/v1beta/files?upload_id=UP1&upload_protocol=resumable`);
  assert.equal(start.headers['x-goog-upload-status'], 'active');
  assert.equal(start.headers['x-spendgate-cost-usd'], '0');
  let got = up.requests.at(-1);
  assert.equal(got.method, 'POST');
  assert.equal(got.url, '/upload/v1beta/files?uploadType=resumable');
  assert.equal(got.headers['x-goog-api-key'], real, 'the virtual key is replaced by the provider key');
  assert.equal(got.headers['x-goog-upload-command'], 'start');
  assert.equal(got.headers['x-goog-upload-header-content-length'], String(file.length));
  assert.equal(got.headers['x-goog-upload-header-content-type'], 'application/pdf');
  assert.deepEqual(JSON.parse(got.body.toString()), { file: { display_name: 'report.pdf' } });
  const e1 = await waitForEntry(ledger, start.headers['x-spendgate-request-id']);
  assert.equal(e1.json.provider, 'gemini', e1.raw);
  assert.equal(e1.json.price_source, 'unmetered', e1.raw);
  assert.equal(e1.json.cost_usd, 0, e1.raw);
  assert.equal(e1.json.key, 'uploader', e1.raw);

  // The bytes, to the session URL as the SDK sends them, with the same virtual key.
  const bytes = await request(session, {
    method: 'POST',
    headers: {
      'content-type': 'application/pdf', 'x-goog-api-key': vk, 'x-goog-upload-command': 'upload, finalize',
      'x-goog-upload-offset': '0',
    },
    body: file,
  });
  assert.equal(bytes.status, 200, bytes.text);
  assert.equal(JSON.parse(bytes.text).file.sizeBytes, String(file.length));
  got = up.requests.at(-1);
  assert.equal(got.url, '/upload/v1beta/files?upload_id=UP1&upload_protocol=resumable');
  assert.equal(got.headers['x-goog-api-key'], real, 'the virtual key is replaced on the bytes too');
  assert.equal(got.headers['x-goog-upload-command'], 'upload, finalize');
  assert.equal(got.headers['content-type'], 'application/pdf');
  assert.ok(got.body.equals(file), 'the file bytes reach the upstream unchanged');
  const e2 = await waitForEntry(ledger, bytes.headers['x-spendgate-request-id']);
  assert.equal(e2.json.price_source, 'unmetered', e2.raw);
  assert.equal(up.requests.length, 2);
  await proxy.stopClean();
  assert.ok(!proxy.stderr.includes(vk) && !proxy.stderr.includes(real), 'no key in the log');
});

test('the upload session URL takes the scheme a TLS-terminating balancer reports (X-Forwarded-Proto, else Forwarded proto=)', async (t) => {
  const up = await startUpstream({
    handler: (req, res) => {
      res.setHeader('x-goog-upload-url', `${up.url}/upload/v1beta/files?upload_id=UP2&upload_protocol=resumable`);
      return json(res, 200, {});
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: { gemini: { format: 'gemini', base_url: up.url }, openai: { format: 'openai', base_url: up.url } },
  });
  const start = (headers) => request(`${proxy.url}/upload/v1beta/files?uploadType=resumable`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': 'AIzaPassthroughKey', 'x-goog-upload-protocol': 'resumable', 'x-goog-upload-command': 'start', ...headers },
    body: '{}',
  });
  const path = '/upload/v1beta/files?upload_id=UP2&upload_protocol=resumable';
  const authority = proxy.url.replace('http://', '');
  for (const [headers, expected] of [
    [{}, `http://${authority}${path}`],
    [{ 'x-forwarded-proto': 'https' }, `https://${authority}${path}`],
    [{ forwarded: 'for=192.0.2.60;proto=https;by=203.0.113.43' }, `https://${authority}${path}`],
    [{ 'x-forwarded-proto': 'http', forwarded: 'proto=https' }, `http://${authority}${path}`],
    [{ host: 'llm.example.com', 'x-forwarded-proto': 'https' }, `https://llm.example.com${path}`],
  ]) {
    const r = await start(headers);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-goog-upload-url'], expected, JSON.stringify(headers));
  }
  await proxy.stopClean();
});

test('GET, HEAD and OPTIONS on metered paths are free calls: the openai SDK lists stored chat completions and CORS preflights pass unknown_model: reject', async (t) => {
  const listing = { object: 'list', data: [], first_id: null, last_id: null, has_more: false };
  const up = await startUpstream({
    handler: (req, res) => {
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'POST' });
        return res.end();
      }
      return json(res, 200, listing);
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    extra: { pricing: { unknown_model: 'reject' } },
  });
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0 });
  const page = await client.chat.completions.list({ limit: 5 });
  assert.deepEqual(page.data, []);
  const head = await request(`${proxy.url}/v1/chat/completions`, { method: 'HEAD', headers: { authorization: 'Bearer sk-test' } });
  assert.equal(head.status, 200, head.text);
  for (const path of ['/v1/chat/completions', '/v1/responses', '/v1/messages', '/v1beta/models/gemini-2.5-flash:generateContent']) {
    const preflight = await request(`${proxy.url}${path}`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.status, 204, `${path}: ${preflight.status} ${preflight.text}`);
    assert.equal(preflight.headers['access-control-allow-origin'], '*');
  }
  assert.deepEqual(up.requests.map((r) => `${r.method} ${r.url}`), [
    'GET /v1/chat/completions?limit=5', 'HEAD /v1/chat/completions', 'OPTIONS /v1/chat/completions',
    'OPTIONS /v1/responses', 'OPTIONS /v1/messages', 'OPTIONS /v1beta/models/gemini-2.5-flash:generateContent',
  ]);
  const lines = await waitForLedger(ledgerPathOf(proxy), 6, { what: 'free calls on metered paths' });
  for (const { json: line, raw } of lines) {
    assert.equal(line.price_source, 'unmetered', raw);
    assert.equal(line.cost_usd, 0, raw);
  }
  // A safe method asking its upstream to read it as another is read as the call it names.
  const override = await request(`${proxy.url}/v1/chat/completions`, {
    method: 'GET',
    headers: { authorization: 'Bearer sk-test', 'x-http-method-override': 'POST' },
  });
  assertDenied(override, 'unknown_model', { format: 'openai', what: 'GET with a method override' });
  assert.equal(up.requests.length, 6);
  await proxy.stopClean();
});
