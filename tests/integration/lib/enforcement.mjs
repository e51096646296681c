// Helpers for enforcement tests (SPEC §4/§5): a metered fake OpenAI upstream with known usage,
// worst-case arithmetic from config/pricing.yaml, denial assertions, admin API calls.
import assert from 'node:assert/strict';
import http from 'node:http';
import { startUpstream, json, sleep } from './fake_upstream.mjs';
import { chatCompletion, chatUsage } from './openai_stream.mjs';
import { request, postJson } from './http.mjs';
import { perMillion, usdToPico, picoToUsd, readLedger, rawMember } from './ledger.mjs';

/** config/pricing.yaml rates (USD per 1M tokens) of the models these tests use. */
export const PRICES = {
  'gpt-4o-mini': { input: '0.15', cached_input: '0.075', output: '0.60', max_output_tokens: 16384 },
};

/** SPEC §4 denial table: reason -> { status, type, code } (OpenAI format). */
export const DENIALS = {
  emergency_stop: { status: 503, type: 'service_unavailable', code: 'emergency_stop', anthropic: 'api_error', gemini: 'UNAVAILABLE' },
  unknown_key: { status: 401, type: 'invalid_request_error', code: 'invalid_api_key', anthropic: 'authentication_error', gemini: 'UNAUTHENTICATED' },
  request_cost: { status: 400, type: 'invalid_request_error', code: 'request_cost_limit_exceeded', anthropic: 'invalid_request_error', gemini: 'INVALID_ARGUMENT' },
  rate_limit: { status: 429, type: 'rate_limit_exceeded', code: 'rate_limit_exceeded', anthropic: 'rate_limit_error', gemini: 'RESOURCE_EXHAUSTED' },
  budget: { status: 429, type: 'insufficient_quota', code: 'budget_exceeded', anthropic: 'rate_limit_error', gemini: 'RESOURCE_EXHAUSTED' },
  store_unavailable: { status: 503, type: 'service_unavailable', code: 'store_unavailable', anthropic: 'api_error', gemini: 'UNAVAILABLE' },
  unknown_model: { status: 400, type: 'invalid_request_error', code: 'model_not_priced', anthropic: 'invalid_request_error', gemini: 'INVALID_ARGUMENT' },
};

/**
 * Worst case the proxy must reserve (SPEC §4, docs/enforcement.md): input bound = body bytes at
 * 1 token per byte at the input rate, output bound = max_tokens (else the model's cap) at the
 * output rate. BigInt picodollars.
 */
export function worstCasePico(bodyBytes, maxTokens, model = 'gpt-4o-mini') {
  const p = PRICES[model];
  return perMillion(bodyBytes, p.input) + perMillion(maxTokens ?? p.max_output_tokens, p.output);
}

/** Real cost of an answer with this usage (no cached tokens). BigInt picodollars. */
export function chatCostPico(prompt, completion, model = 'gpt-4o-mini') {
  const p = PRICES[model];
  return perMillion(prompt, p.input) + perMillion(completion, p.output);
}

/** A chat request body as a string; `pad` makes every body the same length. */
export function chatBody({ maxTokens = 16, field = 'max_tokens', content = 'hi', model = 'gpt-4o-mini', extra = {} } = {}) {
  const body = { model, messages: [{ role: 'user', content }], ...extra };
  if (maxTokens !== undefined && maxTokens !== null) body[field] = maxTokens;
  return JSON.stringify(body);
}

/**
 * Fake OpenAI upstream that answers chat completions with usage.
 *   usage(rec, body) -> { prompt, completion } (default 19 / 10)
 *   delayMs: wait before answering (so requests overlap)
 *   gate: a Promise to await before answering (for concurrency tests)
 * Returns the startUpstream handle plus `answered` (count of answers sent).
 */
export async function startMeteredUpstream(t, { usage, delayMs = 0, gate, headers = {} } = {}) {
  let answered = 0;
  const up = await startUpstream({
    handler: async (req, res, rec) => {
      let body = {};
      try { body = JSON.parse(rec.body.toString() || '{}'); } catch { /* not JSON */ }
      if (delayMs) await sleep(delayMs);
      if (gate) await (typeof gate === 'function' ? gate() : gate);
      const u = usage ? usage(rec, body) : { prompt: 19, completion: 10 };
      answered++;
      json(res, 200, chatCompletion({ usage: chatUsage(u) }), { 'x-request-id': `req_${rec.connId}_${answered}`, ...headers });
    },
  });
  if (t) t.after(() => up.close());
  Object.defineProperty(up, 'answered', { get: () => answered });
  return up;
}

/** A deferred promise whose resolve is exposed: `const g = gate(); ... g.open()`. */
export function gate() {
  let open;
  const promise = new Promise((r) => { open = r; });
  promise.open = open;
  return promise;
}

/** POST a chat request to the proxy (fresh connection unless an agent is given). */
export function chat(proxyUrl, body, { key = 'sk-test', headers = {}, agent = false, path = '/v1/chat/completions' } = {}) {
  return request(`${proxyUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
    body,
    agent,
  });
}

export const keepAliveAgent = (maxSockets = 50) => new http.Agent({ keepAlive: true, maxSockets });

/** Run `total` tasks with at most `concurrency` in flight. fn(i) -> result; results in order. */
export async function runPool(total, concurrency, fn) {
  const results = new Array(total);
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      results[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return results;
}

const describeRes = (res) => `${res.status} ${JSON.stringify(res.headers)} ${res.text}`;

/**
 * Assert a denial of `reason` in `format` (SPEC §4): status, x-spendgate-denied, request id, JSON
 * body in the provider's error shape with the table's type/code. Returns the parsed body.
 */
export function assertDenied(res, reason, { format = 'openai', what = '' } = {}) {
  const d = DENIALS[reason];
  const ctx = `${what}: ${describeRes(res)}`;
  assert.equal(res.status, d.status, `status for ${reason} ${ctx}`);
  assert.equal(res.headers['x-spendgate-denied'], reason, `x-spendgate-denied ${ctx}`);
  assert.ok(res.headers['x-spendgate-request-id'], `x-spendgate-request-id missing ${ctx}`);
  assert.match(res.headers['content-type'] ?? '', /application\/json/, `content-type ${ctx}`);
  // SPEC §3: the cost header on every non-streamed answer; §4: a denied request costs nothing.
  assert.equal(res.headers['x-spendgate-cost-usd'], '0', `a denial's cost header ${ctx}`);
  let body;
  assert.doesNotThrow(() => { body = JSON.parse(res.text); }, `body not JSON ${ctx}`);
  if (format === 'openai') {
    assert.deepEqual(Object.keys(body), ['error'], `openai error body keys ${ctx}`);
    assert.equal(body.error.type, d.type, `openai error.type ${ctx}`);
    assert.equal(body.error.code, d.code, `openai error.code ${ctx}`);
    assert.equal(body.error.param, null, `openai error.param ${ctx}`);
    assert.equal(typeof body.error.message, 'string', `openai error.message ${ctx}`);
    assert.ok(body.error.message.length > 0, `empty message ${ctx}`);
  } else if (format === 'anthropic') {
    assert.equal(body.type, 'error', `anthropic type ${ctx}`);
    assert.equal(body.error.type, d.anthropic, `anthropic error.type ${ctx}`);
    assert.ok(body.error.message.length > 0, `empty message ${ctx}`);
  } else if (format === 'gemini') {
    assert.equal(body.error.code, d.status, `gemini error.code ${ctx}`);
    assert.equal(body.error.status, d.gemini, `gemini error.status ${ctx}`);
    assert.ok(body.error.message.length > 0, `empty message ${ctx}`);
  }
  return body;
}

/** The error message of a denial body in any format. */
export const denialMessage = (body) => body.error.message;

/** Seconds from now until the next UTC midnight (a `period: day` reset). */
export function secondsUntilUtcMidnight(now = Date.now()) {
  const d = new Date(now);
  const next = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
  return (next - now) / 1000;
}

/** Assert the headers of a budget denial (SPEC §4): retry-after = seconds to the period reset. */
export function assertBudgetHeaders(res, { period = 'day', what = '' } = {}) {
  const ctx = `${what}: ${describeRes(res)}`;
  assert.equal(res.headers['x-should-retry'], 'false', `x-should-retry ${ctx}`);
  if (period === 'day') {
    const ra = res.headers['retry-after'];
    assert.match(ra ?? '', /^[0-9]+$/, `retry-after must be whole seconds ${ctx}`);
    const expected = secondsUntilUtcMidnight();
    assert.ok(Math.abs(Number(ra) - expected) <= 3, `retry-after ${ra} != seconds until UTC midnight ~${expected.toFixed(1)} ${ctx}`);
  }
}

/**
 * Numbers in a budget denial message, as BigInt picodollars: "... is used up ...: $S spent [and $R
 * reserved ...] of the $L limit, and this request could cost up to $W." or, with room left, "...
 * cannot take this request ...: its worst case, up to $W, does not fit in the $X that remains ($S
 * spent [and $R reserved ...] of the $L limit)."
 */
export function parseBudgetMessage(message) {
  const counters = '\\$([0-9.]+) spent(?: and \\$([0-9.]+) reserved[^$]*)? of the \\$([0-9.]+) limit';
  const usedUp = new RegExp(`: ${counters}, and this request could cost up to \\$([0-9.]+)\\.`).exec(message);
  if (usedUp) {
    const [, s, r, l, w] = usedUp;
    return { spent: usdToPico(s), reserved: r ? usdToPico(r) : 0n, limit: usdToPico(l), amount: usdToPico(w) };
  }
  const noFit = new RegExp(`: its worst case, up to \\$([0-9.]+), does not fit in the \\$[0-9.]+ that remains \\(${counters}\\)\\.`).exec(message);
  assert.ok(noFit, `budget denial message does not name spent / reserved / limit / worst case: ${message}`);
  const [, w, s, r, l] = noFit;
  return { spent: usdToPico(s), reserved: r ? usdToPico(r) : 0n, limit: usdToPico(l), amount: usdToPico(w) };
}

/** Sum of cost_usd (exact, from the raw JSON text) over ledger entries. BigInt picodollars. */
export function ledgerSumPico(entries) {
  return entries.reduce((s, e) => s + usdToPico(rawMember(e.raw, 'cost_usd')), 0n);
}

/** Poll the ledger until it has n lines (no settle check); returns them. */
export async function ledgerAtLeast(file, n, timeout = 5_000) {
  const deadline = Date.now() + timeout;
  let lines = readLedger(file);
  while (lines.length < n && Date.now() < deadline) {
    await sleep(10);
    lines = readLedger(file);
  }
  return lines;
}

/** Admin API call. Returns the http.mjs result; `token` adds Authorization: Bearer. */
export function admin(adminUrl, method, path, { body, token } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    return postJson(`${adminUrl}${path}`, body, headers, { method });
  }
  return request(`${adminUrl}${path}`, { method, headers });
}

/** GET /admin/emergency-stop as JSON (asserts 200). */
export async function getEstop(adminUrl, token) {
  const r = await admin(adminUrl, 'GET', '/admin/emergency-stop', { token });
  assert.equal(r.status, 200, `GET /admin/emergency-stop: ${r.status} ${r.text}`);
  return r.json();
}

/** POST /admin/emergency-stop; returns the answer (asserts 200). */
export async function setEstop(adminUrl, body, token) {
  const r = await admin(adminUrl, 'POST', '/admin/emergency-stop', { body, token });
  assert.equal(r.status, 200, `POST /admin/emergency-stop ${JSON.stringify(body)}: ${r.status} ${r.text}`);
  return r.json();
}

/** Poll fn() every `every` ms until it returns truthy or `timeout` passes; returns {value, ms}. */
export async function pollUntil(fn, { every = 100, timeout = 5_000, what = 'condition' } = {}) {
  const start = performance.now();
  for (;;) {
    const v = await fn();
    if (v) return { value: v, ms: performance.now() - start };
    if (performance.now() - start > timeout) assert.fail(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(every);
  }
}

/**
 * The budget counters (BigInt picodollars spent / reserved) of budget `name`: from GET
 * /admin/budgets when the proxy has it, else null.
 */
export async function adminBudget(adminUrl, name, token) {
  const r = await admin(adminUrl, 'GET', '/admin/budgets', { token });
  if (r.status === 404) return null;
  assert.equal(r.status, 200, `GET /admin/budgets: ${r.status} ${r.text}`);
  const list = r.json();
  const b = list.find((x) => x.name === name);
  assert.ok(b, `budget ${name} not in /admin/budgets: ${r.text}`);
  return b;
}

export { picoToUsd, usdToPico };

/** Run a spendgate subcommand without blocking the event loop. Resolves {code, signal, stdout, stderr, ms}. */
export async function runCliAsync(args, { env = {}, timeout = 30_000 } = {}) {
  const { spawn } = await import('node:child_process');
  const { binPath } = await import('./proxy.mjs');
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const p = spawn(binPath(), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    p.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeout);
    p.once('error', (e) => { clearTimeout(timer); reject(e); });
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - start });
    });
  });
}
