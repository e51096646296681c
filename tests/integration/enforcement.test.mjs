// Enforcement with the in-memory store (SPEC §4, docs/enforcement.md): hard budgets under
// concurrency, worst-case reservations, per-request cap, rate limits (requests, tokens,
// concurrency), enforcement order, and that a denied request never reaches the upstream and writes
// no ledger line. Costs are computed by hand from config/pricing.yaml (gpt-4o-mini: input 0.15,
// output 0.60 USD per 1M tokens; worst-case input bound = request body bytes at 1 token per byte).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy, providers } from './lib/proxy.mjs';
import { raw } from './lib/yaml.mjs';
import { sleep } from './lib/fake_upstream.mjs';
import { request } from './lib/http.mjs';
import { ledgerPathOf, readLedger, waitForLedger, perMillion, sha256hex } from './lib/ledger.mjs';
import {
  startMeteredUpstream, chatBody, chat, worstCasePico, chatCostPico, runPool, keepAliveAgent, assertDenied,
  assertBudgetHeaders, parseBudgetMessage, ledgerSumPico, picoToUsd, gate, ledgerAtLeast,
} from './lib/enforcement.mjs';

const budget = (limitPico, extra = {}) => ({
  name: 'org-daily', scope: 'global', period: 'day', limit_usd: raw(picoToUsd(limitPico)), mode: 'hard', ...extra,
});

async function setup(t, extra, { upstream = {}, server = {}, env, admin, providerExtra } = {}) {
  const up = await startMeteredUpstream(t, upstream);
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }, providerExtra),
    server,
    admin,
    extra,
    env,
  });
  return { up, proxy, ledger: ledgerPathOf(proxy) };
}

/** A body of fixed length for request i (so every request has the same worst case). */
const fixedBody = (i, maxTokens) => chatBody({ maxTokens, content: `request ${String(i).padStart(5, '0')} ${'x'.repeat(40)}` });

const isOk = (r) => r.status === 200;

// ---------------------------------------------------------------------------------------------
// 1. Hard budget under concurrency, memory store
// ---------------------------------------------------------------------------------------------

test('hard budget, memory store: 200 requests 50 in flight, each answer costs exactly its worst case -> exactly floor(limit/worst) pass, never over the limit', async (t) => {
  const MAX = 1000;
  const B = Buffer.byteLength(fixedBody(0, MAX));
  const W = worstCasePico(B, MAX);
  const limit = 40n * W + W / 2n; // room for exactly 40 worst cases
  // The upstream reports exactly the worst case: prompt = body bytes, completion = max_tokens.
  const { up, proxy, ledger } = await setup(t, { budgets: [budget(limit)] }, {
    upstream: { delayMs: 50, usage: (rec, body) => ({ prompt: rec.body.length, completion: body.max_tokens }) },
    server: { threads: 2 },
  });
  const agent = keepAliveAgent(50);
  t.after(() => agent.destroy());

  const results = await runPool(200, 50, (i) => chat(proxy.url, fixedBody(i, MAX), { agent }));
  const ok = results.filter(isOk);
  const denied = results.filter((r) => !isOk(r));
  for (const r of denied) {
    const body = assertDenied(r, 'budget', { what: 'concurrent run' });
    assertBudgetHeaders(r, { what: 'concurrent run' });
    const m = parseBudgetMessage(body.error.message);
    assert.equal(m.amount, W, `denial names the worst case ${picoToUsd(W)}: ${body.error.message}`);
    assert.equal(m.limit, limit, `denial names the limit: ${body.error.message}`);
    assert.ok(m.spent + m.reserved + m.amount > m.limit, `refused although spent + reserved + worst <= limit: ${body.error.message}`);
    assert.ok(m.spent + m.reserved <= m.limit, `spent + reserved above the limit: ${body.error.message}`);
  }
  const expected = Number(limit / W); // 40
  assert.equal(ok.length, expected, `admitted ${ok.length} of 200, expected exactly floor(limit/worst) = ${expected}; statuses ${JSON.stringify(countBy(results))}`);
  assert.equal(up.requests.length, ok.length, 'every admitted request and nothing else reached the upstream');
  const lines = await waitForLedger(ledger, ok.length, { what: 'one line per admitted request' });
  const spent = ledgerSumPico(lines);
  assert.equal(spent, BigInt(ok.length) * W, 'each ledger line costs exactly the worst case');
  assert.ok(spent <= limit, `ledger total ${picoToUsd(spent)} > limit ${picoToUsd(limit)}`);
  assert.ok(limit - spent < W, `refused early: ${picoToUsd(limit - spent)} left, a request needs ${picoToUsd(W)}`);
  for (const r of ok) assert.ok(r.headers['x-spendgate-cost-usd'], 'admitted answers carry the cost header');

  // After the run nothing is reserved any more: the next request is refused with reserved = 0.
  const after = await chat(proxy.url, fixedBody(999, MAX));
  const m = parseBudgetMessage(assertDenied(after, 'budget').error.message);
  assert.equal(m.reserved, 0n, `reservations left after every request settled: ${after.text}`);
  assert.equal(m.spent, spent, `budget spent ${picoToUsd(m.spent)} != ledger total ${picoToUsd(spent)}`);
  await proxy.stopClean();
});

test('hard budget, memory store: answers cheaper than the worst case settle to the real cost; 200 requests 50 in flight never pass the limit and the budget is used to within one worst case', async (t) => {
  const MAX = 1000;
  const B = Buffer.byteLength(fixedBody(0, MAX));
  const W = worstCasePico(B, MAX);
  const limit = 40n * W + W / 3n;
  // Deterministic "random" completions between 100 and MAX tokens; prompt 25 tokens.
  let seed = 12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const { up, proxy, ledger } = await setup(t, { budgets: [budget(limit)] }, {
    upstream: { delayMs: 50, usage: () => ({ prompt: 25, completion: 100 + Math.floor(rnd() * (MAX - 100)) }) },
    server: { threads: 2 },
  });
  const agent = keepAliveAgent(50);
  t.after(() => agent.destroy());

  const results = await runPool(200, 50, (i) => chat(proxy.url, fixedBody(i, MAX), { agent }));
  const ok = results.filter(isOk);
  for (const r of results.filter((x) => !isOk(x))) {
    const body = assertDenied(r, 'budget', { what: 'concurrent run' });
    assertBudgetHeaders(r, { what: 'concurrent run' });
    const m = parseBudgetMessage(body.error.message);
    assert.ok(m.spent + m.reserved + m.amount > m.limit, `refused although spent + reserved + worst <= limit: ${body.error.message}`);
  }
  assert.ok(ok.length >= 40, `fewer than 40 admitted (${ok.length}): the limit holds 40 worst cases`);

  // Tail: one request at a time (nothing in flight) until the first refusal. At that point the
  // remaining budget must be less than one worst case, and the refusal's spent = the ledger total.
  let tail = 0;
  let refusal = null;
  for (let i = 0; i < 400 && !refusal; i++) {
    const r = await chat(proxy.url, fixedBody(1000 + i, MAX), { agent });
    if (r.status === 200) tail++; else refusal = r;
  }
  assert.ok(refusal, 'the budget never ran out');
  const admitted = ok.length + tail;
  assert.equal(up.requests.length, admitted, 'only admitted requests reached the upstream');
  const lines = await waitForLedger(ledger, admitted, { what: 'one line per admitted request' });
  const spent = ledgerSumPico(lines);
  for (const l of lines) {
    assert.equal(BigInt(Math.round(l.json.cost_usd * 1e12)), chatCostPico(l.json.input_tokens, l.json.output_tokens), `ledger cost ${l.raw}`);
    assert.equal(l.json.input_tokens, 25);
  }
  assert.ok(spent <= limit, `ledger total ${picoToUsd(spent)} > limit ${picoToUsd(limit)}`);
  const m = parseBudgetMessage(assertDenied(refusal, 'budget', { what: 'tail refusal' }).error.message);
  assert.equal(m.reserved, 0n, `nothing in flight, yet reserved > 0: ${refusal.text}`);
  assert.equal(m.spent, spent, `budget spent ${picoToUsd(m.spent)} != ledger total ${picoToUsd(spent)} (settle must replace the reservation by the real cost)`);
  assert.ok(limit - spent < W, `refused early: ${picoToUsd(limit - spent)} left, worst case ${picoToUsd(W)}`);
  await proxy.stopClean();
});

function countBy(results) {
  const out = {};
  for (const r of results) {
    const k = `${r.status} ${r.headers['x-spendgate-denied'] ?? ''}`.trim();
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

test('budget denial in each provider format; the worst case uses the model max_output_tokens when the request sets none', async (t) => {
  const { up, proxy, ledger } = await setup(t, { budgets: [budget(1_000_000n)] }); // $0.000001
  const cases = [
    { format: 'openai', path: '/v1/chat/completions', headers: { authorization: 'Bearer sk-test' }, body: chatBody({ maxTokens: null }) },
    { format: 'anthropic', path: '/v1/messages', headers: { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model: 'claude-3-5-haiku-20241022', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }) },
    { format: 'gemini', path: '/v1beta/models/gemini-2.0-flash:generateContent', headers: { 'x-goog-api-key': 'gm-test' }, body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generationConfig: { maxOutputTokens: 16 } }) },
  ];
  for (const c of cases) {
    const r = await request(`${proxy.url}${c.path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...c.headers }, body: c.body });
    const body = assertDenied(r, 'budget', { format: c.format, what: c.format });
    assertBudgetHeaders(r, { what: c.format });
    const msg = c.format === 'openai' || c.format === 'gemini' || c.format === 'anthropic' ? body.error.message : '';
    assert.match(msg, /Budget "org-daily"/, `message names the budget: ${msg}`);
    if (c.format === 'openai') {
      const m = parseBudgetMessage(msg);
      assert.equal(m.amount, worstCasePico(Buffer.byteLength(c.body), 16384),
        `no max_tokens: the output bound is gpt-4o-mini max_output_tokens 16384: ${msg}`);
    }
  }
  assert.equal(up.requests.length, 0, 'no denied request reached the upstream');
  await sleep(150);
  assert.equal(readLedger(ledger).length, 0, 'denied requests write no ledger line');
  await proxy.stopClean();
});

// ---------------------------------------------------------------------------------------------
// 4. Per-request limit and the worst-case estimate
// ---------------------------------------------------------------------------------------------

test('request_limits.max_cost_usd: a request whose worst case is above it gets 400 request_cost naming both amounts; a cheaper one passes', async (t) => {
  const { up, proxy, ledger } = await setup(t, { request_limits: { max_cost_usd: 0.0012 } });
  const big = chatBody({ maxTokens: 5000 });
  const r = await chat(proxy.url, big);
  const body = assertDenied(r, 'request_cost');
  const worst = worstCasePico(Buffer.byteLength(big), 5000);
  assert.ok(worst > 1_200_000_000n);
  assert.ok(body.error.message.includes(`$${picoToUsd(worst)}`), `message must name the estimate $${picoToUsd(worst)}: ${body.error.message}`);
  assert.ok(body.error.message.includes('$0.0012'), `message must name the limit $0.0012: ${body.error.message}`);
  assert.equal(r.headers['retry-after'], undefined, 'a request_cost denial has no retry-after');

  const small = await chat(proxy.url, chatBody({ maxTokens: 100 }));
  assert.equal(small.status, 200, small.text);
  // Exactly at the limit passes (strictly greater is refused): 0.0012 USD = 1.2e9 pico.
  // body bytes B at 150000 pico + M at 600000 pico == 1.2e9 -> B a multiple of 4, M = 2000 - B/4.
  let exactBody = null;
  for (let pad = 0; pad < 40 && !exactBody; pad++) {
    const probe = chatBody({ maxTokens: 1600, content: `hi${'y'.repeat(pad)}` });
    const rest = 1_200_000_000n - perMillion(Buffer.byteLength(probe), '0.15');
    if (rest % 600_000n === 0n) {
      const m = Number(rest / 600_000n);
      const candidate = chatBody({ maxTokens: m, content: `hi${'y'.repeat(pad)}` });
      if (Buffer.byteLength(candidate) === Buffer.byteLength(probe)) exactBody = { body: candidate, m };
    }
  }
  assert.ok(exactBody, 'test setup: no body with a worst case of exactly $0.0012');
  {
    assert.equal(worstCasePico(Buffer.byteLength(exactBody.body), exactBody.m), 1_200_000_000n);
    const atLimit = await chat(proxy.url, exactBody.body);
    assert.equal(atLimit.status, 200, `worst case exactly at max_cost_usd must pass: ${atLimit.text}`);
    const over = JSON.parse(exactBody.body);
    over.max_tokens += 1;
    const overRes = await chat(proxy.url, JSON.stringify(over));
    assertDenied(overRes, 'request_cost', { what: 'one token over the limit' });
  }
  assert.equal(up.requests.length, 2, 'refused requests never reached the upstream');
  await ledgerAtLeast(ledger, up.requests.length);
  await sleep(150);
  assert.equal(readLedger(ledger).length, up.requests.length, 'refused requests wrote no ledger line');
  await proxy.stopClean();
});

test('worst case: output bound from max_tokens (times best_of on legacy completions), max_completion_tokens, max_output_tokens (responses), maxOutputTokens and max_output_tokens (gemini, either spelling; 0 is unset), max_tokens (anthropic), else the model cap; the denial names the field to lower', async (t) => {
  // A per-request limit of $0.000001 refuses everything, and the message names the worst case.
  const { up, proxy } = await setup(t, { request_limits: { max_cost_usd: 0.000001 } });
  const openai = { authorization: 'Bearer sk-test' };
  const cases = [
    { what: 'chat max_tokens', advice: 'Lower max_tokens ', path: '/v1/chat/completions', headers: openai, body: chatBody({ maxTokens: 777 }), worst: (b) => worstCasePico(b, 777) },
    { what: 'chat max_completion_tokens', advice: 'Lower max_completion_tokens ', path: '/v1/chat/completions', headers: openai, body: chatBody({ maxTokens: 555, field: 'max_completion_tokens' }), worst: (b) => worstCasePico(b, 555) },
    { what: 'chat without a limit -> 16384', advice: 'Set max_completion_tokens ', path: '/v1/chat/completions', headers: openai, body: chatBody({ maxTokens: null }), worst: (b) => worstCasePico(b, 16384) },
    // Legacy completions bill every best_of candidate the provider generates, not just the n returned.
    { what: 'completions best_of', advice: 'Lower max_tokens ', path: '/v1/completions', headers: openai, body: JSON.stringify({ model: 'gpt-4o-mini', prompt: 'hi', max_tokens: 50, best_of: 5 }), worst: (b) => worstCasePico(b, 250) },
    { what: 'completions n and best_of', advice: 'Lower max_tokens ', path: '/v1/completions', headers: openai, body: JSON.stringify({ model: 'gpt-4o-mini', prompt: 'hi', max_tokens: 50, n: 2, best_of: 3 }), worst: (b) => worstCasePico(b, 150) },
    { what: 'responses max_output_tokens', advice: 'Lower max_output_tokens ', path: '/v1/responses', headers: openai, body: JSON.stringify({ model: 'gpt-4o-mini', input: 'hello', max_output_tokens: 333 }), worst: (b) => worstCasePico(b, 333) },
    {
      what: 'gemini maxOutputTokens', advice: 'Lower generationConfig.maxOutputTokens ', path: '/v1beta/models/gemini-2.0-flash:generateContent', headers: { 'x-goog-api-key': 'gm-test' }, format: 'gemini',
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generationConfig: { maxOutputTokens: 444 } }),
      worst: (b) => perMillion(b, '0.10') + perMillion(444, '0.40'),
    },
    {
      // Gemini's REST API takes proto field names in snake_case too.
      what: 'gemini generation_config.max_output_tokens', advice: 'Lower generation_config.max_output_tokens ', path: '/v1beta/models/gemini-2.0-flash:generateContent', headers: { 'x-goog-api-key': 'gm-test' }, format: 'gemini',
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }], system_instruction: { parts: [{ text: 'be brief' }] }, generation_config: { max_output_tokens: 432 } }),
      worst: (b) => perMillion(b, '0.10') + perMillion(432, '0.40'),
    },
    {
      what: 'gemini stream, generation_config.max_output_tokens and candidate_count', advice: 'Lower generation_config.max_output_tokens ', path: '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse', headers: { 'x-goog-api-key': 'gm-test' }, format: 'gemini',
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generation_config: { max_output_tokens: 321, candidate_count: 2 } }),
      worst: (b) => perMillion(b, '0.10') + perMillion(642, '0.40'),
    },
    {
      // Native Gemini reads proto3 JSON, where 0 is the unset default: no cap, so the model's 8192.
      what: 'gemini maxOutputTokens 0 -> the model cap', advice: 'Set generationConfig.maxOutputTokens ', path: '/v1beta/models/gemini-2.0-flash:generateContent', headers: { 'x-goog-api-key': 'gm-test' }, format: 'gemini',
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generationConfig: { maxOutputTokens: 0 } }),
      worst: (b) => perMillion(b, '0.10') + perMillion(8192, '0.40'),
    },
    {
      // Anthropic: any prompt token may be a cache write, so the input bound uses the highest
      // write rate (cache_write_1h 1.60).
      what: 'anthropic max_tokens', advice: 'Lower max_tokens ', path: '/v1/messages', headers: { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' }, format: 'anthropic',
      body: JSON.stringify({ model: 'claude-3-5-haiku-20241022', max_tokens: 222, messages: [{ role: 'user', content: 'hi' }] }),
      worst: (b) => perMillion(b, '1.60') + perMillion(222, '4.00'),
    },
  ];
  const failures = [];
  for (const c of cases) {
    const r = await request(`${proxy.url}${c.path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...c.headers }, body: c.body });
    const body = assertDenied(r, 'request_cost', { format: c.format ?? 'openai', what: c.what });
    const want = `$${picoToUsd(c.worst(Buffer.byteLength(c.body)))}`;
    if (!body.error.message.includes(want)) failures.push(`${c.what}: expected the worst case ${want} in "${body.error.message}"`);
    // The advice names the output cap of the caller's own API, not always OpenAI's max_tokens.
    if (!body.error.message.includes(c.advice)) failures.push(`${c.what}: expected "${c.advice}" in "${body.error.message}"`);
  }
  assert.deepEqual(failures, []);
  assert.equal(up.requests.length, 0);
  await proxy.stopClean();
});

// ---------------------------------------------------------------------------------------------
// 3. Rate limits
// ---------------------------------------------------------------------------------------------

const RESET_RE = /^(?:\d+ms|\d+(?:\.\d+)?s|\d+m\d+s)$/;

function assertRateHeaders(r, family, { limit, remaining }, what = '') {
  const ctx = `${what}: ${r.status} ${JSON.stringify(r.headers)}`;
  assert.equal(r.headers[`x-ratelimit-limit-${family}`], String(limit), `x-ratelimit-limit-${family} ${ctx}`);
  if (remaining !== undefined) {
    assert.equal(r.headers[`x-ratelimit-remaining-${family}`], String(remaining), `x-ratelimit-remaining-${family} ${ctx}`);
  } else {
    assert.match(r.headers[`x-ratelimit-remaining-${family}`] ?? '', /^\d+$/, `x-ratelimit-remaining-${family} ${ctx}`);
  }
  assert.match(r.headers[`x-ratelimit-reset-${family}`] ?? '', RESET_RE, `x-ratelimit-reset-${family} ${ctx}`);
}

function assertRateDenial(r, what) {
  const body = assertDenied(r, 'rate_limit', { what });
  const ctx = `${what}: ${JSON.stringify(r.headers)}`;
  assert.match(r.headers['retry-after'] ?? '', /^[1-9][0-9]*$/, `retry-after must be whole seconds >= 1 ${ctx}`);
  assert.match(r.headers['retry-after-ms'] ?? '', /^[0-9]+$/, `retry-after-ms ${ctx}`);
  const ms = Number(r.headers['retry-after-ms']);
  assert.equal(Number(r.headers['retry-after']), Math.max(1, Math.ceil(ms / 1000)), `retry-after = ceil(retry-after-ms / 1000) ${ctx}`);
  assert.notEqual(r.headers['x-should-retry'], 'false', `a rate-limit denial must let SDKs retry ${ctx}`);
  return { body, ms };
}

test('rate limit requests_per_minute: 3 per key -> the 4th gets 429 rate_limit (retry-after ~20 s, x-ratelimit-*), other keys are unaffected', async (t) => {
  const { up, proxy, ledger } = await setup(t, { rate_limits: [{ name: 'per-key', scope: 'key', requests_per_minute: 3 }] });
  for (let i = 0; i < 3; i++) {
    const r = await chat(proxy.url, chatBody(), { key: 'sk-a' });
    assert.equal(r.status, 200, `request ${i + 1}: ${r.text}`);
    assertRateHeaders(r, 'requests', { limit: 3, remaining: 2 - i }, `allowed #${i + 1}`);
  }
  const fourth = await chat(proxy.url, chatBody(), { key: 'sk-a' });
  const { body, ms } = assertRateDenial(fourth, '4th request');
  assert.ok(ms > 18_000 && ms <= 20_000, `retry-after-ms ${ms}: one request every 20 s`);
  assert.equal(fourth.headers['retry-after'], '20');
  assertRateHeaders(fourth, 'requests', { limit: 3, remaining: 0 }, '4th request');
  assert.match(body.error.message, /per-key/, `message names the rule: ${body.error.message}`);
  // Another key has its own counter.
  const other = await chat(proxy.url, chatBody(), { key: 'sk-b' });
  assert.equal(other.status, 200, other.text);
  assertRateHeaders(other, 'requests', { limit: 3, remaining: 2 }, 'other key');
  assert.equal(up.requests.length, 4);
  await waitForLedger(ledger, 4);
  await proxy.stopClean();
});

test('one keep-alive connection: each request is rate limited by its own key and user, whatever the request before it on the connection carried', async (t) => {
  // The session keeps its last request's attributes and copies only what changed: a change of key
  // or user between two requests of one connection must reach the rate limits.
  const { up, proxy } = await setup(t, {
    identity: { passthrough: true, trust_headers: true },
    rate_limits: [
      { name: 'per-user', scope: 'user', requests_per_minute: 1 },
      { name: 'per-key', scope: 'key', requests_per_minute: 2 },
    ],
  });
  const agent = keepAliveAgent(1);
  t.after(() => agent.destroy());
  let connections = 0;
  const connect = agent.createConnection.bind(agent);
  agent.createConnection = (...args) => {
    connections += 1;
    return connect(...args);
  };
  const steps = [
    ['sk-a', 'alice', 200],
    ['sk-a', 'bob', 200], // bob's first: would be refused as alice's second
    ['sk-a', 'carol', 429], // the key's third
    ['sk-b', 'carol', 200], // another key; the refusal above charged carol nothing
    ['sk-b', 'alice', 429], // alice's second
    ['sk-b', 'dave', 200],
  ];
  for (const [key, user, status] of steps) {
    const r = await chat(proxy.url, chatBody(), { key, agent, headers: { 'x-spendgate-user': user } });
    assert.equal(r.status, status, `${key} ${user}: ${r.text}`);
    if (status === 429) assertRateDenial(r, `${key} ${user}`);
  }
  assert.equal(connections, 1, 'every request on the same connection');
  assert.equal(up.requests.length, 4);
  await proxy.stopClean();
});

test('rate limit requests_per_minute: 60 -> after the burst a request is refused, still refused halfway through retry-after-ms, and passes once retry-after-ms has passed', async (t) => {
  const { up, proxy } = await setup(t, { rate_limits: [{ name: 'global-rpm', scope: 'global', requests_per_minute: 60 }] });
  const agent = keepAliveAgent(10);
  t.after(() => agent.destroy());
  const burst = await runPool(60, 10, () => chat(proxy.url, chatBody(), { agent }));
  // Depending on how long the burst took, a few more may pass; go until the first refusal.
  const burstDenied = burst.filter((r) => r.status !== 200);
  assert.ok(burstDenied.length <= 0, `the burst of 60 must pass: ${JSON.stringify(countBy(burst))}`);
  let refused = null;
  for (let i = 0; i < 20 && !refused; i++) {
    const r = await chat(proxy.url, chatBody(), { agent });
    if (r.status !== 200) refused = r;
  }
  assert.ok(refused, 'never refused after the burst');
  const { ms } = assertRateDenial(refused, 'after the burst');
  assert.ok(ms > 0 && ms <= 1000, `retry-after-ms ${ms} must be <= 1000 at 60/min`);
  assert.equal(refused.headers['retry-after'], '1');
  const t0 = performance.now();
  const forwarded = up.requests.length;
  if (ms > 300) {
    await sleep(ms / 2 - 50);
    const early = await chat(proxy.url, chatBody(), { agent });
    assertRateDenial(early, `halfway through the ${ms} ms wait`);
  }
  await sleep(Math.max(0, ms - (performance.now() - t0)) + 25);
  const after = await chat(proxy.url, chatBody(), { agent });
  assert.equal(after.status, 200, `after waiting retry-after-ms (${ms} ms) the request must pass: ${after.status} ${after.text}`);
  assert.equal(up.requests.length, forwarded + 1, 'refused requests never reached the upstream');
  await proxy.stopClean();
});

test('rate limit tokens_per_minute: estimate charged at admission, corrected by the real usage; over the limit -> 429; more than the whole limit -> refused for good', async (t) => {
  // Every answer uses 20 + 80 = 100 tokens.
  const { up, proxy, ledger } = await setup(t, { rate_limits: [{ name: 'tpm', scope: 'key', tokens_per_minute: 1000 }] }, {
    upstream: { usage: () => ({ prompt: 20, completion: 80 }) },
  });
  const est = (body, m) => Math.ceil(Buffer.byteLength(body) / 4) + m;
  const a = chatBody({ maxTokens: 880 });
  assert.ok(est(a, 880) <= 1000);
  const ra = await chat(proxy.url, a);
  assert.equal(ra.status, 200, ra.text);
  assertRateHeaders(ra, 'tokens', { limit: 1000 }, 'first');
  await waitForLedger(ledger, 1, { settleMs: 50 });

  // Without the settle correction this one (est ~900 + 900 > 1000) would be refused.
  const b = chatBody({ maxTokens: 800 });
  const rb = await chat(proxy.url, b);
  assert.equal(rb.status, 200, `the short first answer (100 tokens) must give capacity back: ${rb.status} ${rb.text}`);
  await waitForLedger(ledger, 2, { settleMs: 50 });

  // Now ~200 used; this one needs ~900 -> over 1000.
  const c = chatBody({ maxTokens: 880 });
  const rc = await chat(proxy.url, c);
  const { body, ms } = assertRateDenial(rc, 'tokens over the limit');
  assert.match(body.error.message, /tokens per minute/, body.error.message);
  const excess = 200 + est(c, 880) - 1000; // tokens over capacity
  assert.ok(ms > (excess - 40) * 60 && ms <= (excess + 5) * 60, `retry-after-ms ${ms} ~ ${excess} tokens x 60 ms`);
  assertRateHeaders(rc, 'tokens', { limit: 1000 }, 'tokens denial');
  assert.ok(Number(rc.headers['x-ratelimit-remaining-tokens']) < est(c, 880), 'remaining tokens below what the request needs');

  // Needs more than the whole per-minute limit: never passes, x-should-retry false; retry-after
  // is the window (SPEC §4 gives every rate_limit answer one).
  const d = await chat(proxy.url, chatBody({ maxTokens: 2000, field: 'max_completion_tokens' }));
  const dbody = assertDenied(d, 'rate_limit', { what: 'more than the whole limit' });
  // The advice names the field this caller used.
  assert.match(dbody.error.message, /Lower max_completion_tokens or send less input\./, dbody.error.message);
  assert.equal(d.headers['retry-after'], '60', JSON.stringify(d.headers));
  assert.equal(d.headers['retry-after-ms'], '60000', JSON.stringify(d.headers));
  assert.equal(d.headers['x-should-retry'], 'false');
  assert.match(dbody.error.message, /more than the whole limit/, dbody.error.message);

  // A small one still fits.
  const e = await chat(proxy.url, chatBody({ maxTokens: 500 }));
  assert.equal(e.status, 200, e.text);
  assert.equal(up.requests.length, 3);
  await proxy.stopClean();
});

test('rate limit concurrent: 2 -> a third request while two are in flight is refused at once (retry-after 1); a slot frees when an answer settles; x-ratelimit-*-requests report the slots', async (t) => {
  let g = gate();
  const { up, proxy } = await setup(t, { rate_limits: [{ name: 'conc', scope: 'key', concurrent: 2 }] }, {
    upstream: { gate: () => g },
  });
  const p1 = chat(proxy.url, chatBody());
  const p2 = chat(proxy.url, chatBody());
  await up.waitForRequest(2);
  const t0 = performance.now();
  const r3 = await chat(proxy.url, chatBody());
  assert.ok(performance.now() - t0 < 1000, 'refused at once, not queued');
  const { body, ms } = assertRateDenial(r3, 'third concurrent');
  assert.equal(ms, 1000);
  assert.match(body.error.message, /concurrent/, body.error.message);
  // SPEC §4: x-ratelimit-* on every rate_limit 429. A concurrency-only rule reports its slots:
  // none free, and reset is the same wait as retry-after. It has no tokens to report.
  assertRateHeaders(r3, 'requests', { limit: 2, remaining: 0 }, 'third concurrent');
  assert.equal(r3.headers['x-ratelimit-reset-requests'], '1s', 'reset = retry-after on the 429');
  assertNoTokenHeaders(r3, 'third concurrent');
  assert.equal(up.requests.length, 2);
  g.open();
  const [r1, r2] = await Promise.all([p1, p2]);
  assert.equal(r1.status, 200);
  assert.equal(r2.status, 200);
  // One of the two took the first slot (1 left, nothing to wait), the other the last one.
  const byRemaining = [r1, r2].sort((a, b) => Number(a.headers['x-ratelimit-remaining-requests']) - Number(b.headers['x-ratelimit-remaining-requests']));
  assertRateHeaders(byRemaining[0], 'requests', { limit: 2, remaining: 0 }, 'the second slot');
  assert.equal(byRemaining[0].headers['x-ratelimit-reset-requests'], '1s');
  assertRateHeaders(byRemaining[1], 'requests', { limit: 2, remaining: 1 }, 'the first slot');
  assert.equal(byRemaining[1].headers['x-ratelimit-reset-requests'], '0s');
  for (const r of [r1, r2]) assertNoTokenHeaders(r, 'allowed');
  await sleep(50);
  const r4 = await chat(proxy.url, chatBody());
  assert.equal(r4.status, 200, `slot must be free after the answers settled: ${r4.text}`);
  assertRateHeaders(r4, 'requests', { limit: 2, remaining: 1 }, 'after the answers settled');
  assert.equal(r4.headers['x-ratelimit-reset-requests'], '0s');
  await proxy.stopClean();
});

test('x-ratelimit-*: spendgate replaces only the family its rules set; the provider\'s other family reaches the client', async (t) => {
  const provider = {
    'x-ratelimit-limit-requests': '5000', 'x-ratelimit-remaining-requests': '4999', 'x-ratelimit-reset-requests': '12ms',
    'x-ratelimit-limit-tokens': '160000', 'x-ratelimit-remaining-tokens': '159976', 'x-ratelimit-reset-tokens': '9ms',
  };
  const family = (r, f) => [`limit-${f}`, `remaining-${f}`, `reset-${f}`].map((n) => r.headers[`x-ratelimit-${n}`]);
  const cases = [
    { rule: { requests_per_minute: 100 }, ours: ['requests'], theirs: ['tokens'] },
    { rule: { tokens_per_minute: 90000 }, ours: ['tokens'], theirs: ['requests'] },
    { rule: { concurrent: 4 }, ours: ['requests'], theirs: ['tokens'] },
    { rule: { requests_per_minute: 100, tokens_per_minute: 90000 }, ours: ['requests', 'tokens'], theirs: [] },
  ];
  for (const c of cases) {
    const what = JSON.stringify(c.rule);
    const { proxy } = await setup(t, { rate_limits: [{ name: 'rl', scope: 'key', ...c.rule }] }, { upstream: { headers: provider } });
    const r = await chat(proxy.url, chatBody());
    assert.equal(r.status, 200, `${what}: ${r.text}`);
    for (const f of c.theirs) {
      assert.deepEqual(family(r, f), family({ headers: provider }, f), `${what}: the provider's ${f} headers are relayed`);
    }
    for (const f of c.ours) {
      const [limit] = family(r, f);
      assert.notEqual(limit, provider[`x-ratelimit-limit-${f}`], `${what}: spendgate's ${f} headers replace the provider's`);
      // One value (Node joins repeated headers with ", "): the provider's copy is dropped.
      assert.match(limit ?? '', /^\d+$/, `${what}: x-ratelimit-limit-${f}`);
    }
    await proxy.stopClean();
  }
});

test('requests_per_minute: 10 with concurrent: 3 (two rules) -> x-ratelimit-*-requests report the per-minute rate, never the slots, even on the slots\' 429', async (t) => {
  let g = gate();
  const { up, proxy } = await setup(t, {
    rate_limits: [{ name: 'slots', scope: 'key', concurrent: 3 }, { name: 'rpm', scope: 'key', requests_per_minute: 10 }],
  }, { upstream: { gate: () => g } });
  const pending = [chat(proxy.url, chatBody()), chat(proxy.url, chatBody()), chat(proxy.url, chatBody())];
  await up.waitForRequest(3);
  const r4 = await chat(proxy.url, chatBody());
  const { body } = assertRateDenial(r4, 'fourth concurrent');
  assert.match(body.error.message, /concurrent/, body.error.message);
  assertRateHeaders(r4, 'requests', { limit: 10, remaining: 7 }, 'the slots\' 429');
  g.open();
  const answers = await Promise.all(pending);
  const remaining = answers.map((r) => {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-ratelimit-limit-requests'], '10', `the rate, not the 3 slots: ${JSON.stringify(r.headers)}`);
    return Number(r.headers['x-ratelimit-remaining-requests']);
  });
  assert.deepEqual(remaining.sort(), [7, 8, 9]);
  await proxy.stopClean();
});

function assertNoTokenHeaders(r, what) {
  for (const h of ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens']) {
    assert.equal(r.headers[h], undefined, `${what}: ${h} from a rule without tokens_per_minute`);
  }
}

test('x-ratelimit-* headers for requests and tokens on allowed answers where a rate limit applies, none where none applies', async (t) => {
  const { proxy } = await setup(t, {
    rate_limits: [{ name: 'mini', scope: 'key', match: { model: 'gpt-4o-mini' }, requests_per_minute: 10, tokens_per_minute: 10000 }],
  });
  const body = chatBody({ maxTokens: 100 });
  const r = await chat(proxy.url, body);
  assert.equal(r.status, 200, r.text);
  assertRateHeaders(r, 'requests', { limit: 10, remaining: 9 }, 'allowed');
  assertRateHeaders(r, 'tokens', { limit: 10000 }, 'allowed');
  const remaining = Number(r.headers['x-ratelimit-remaining-tokens']);
  const est = Math.ceil(Buffer.byteLength(body) / 4) + 100;
  assert.ok(remaining <= 10000 - est + 5 && remaining >= 10000 - est - 5, `remaining tokens ${remaining} ~ 10000 - ${est}`);
  const other = await chat(proxy.url, chatBody({ model: 'gpt-4o', maxTokens: 10 }));
  assert.equal(other.status, 200, other.text);
  for (const h of ['x-ratelimit-limit-requests', 'x-ratelimit-limit-tokens']) {
    assert.equal(other.headers[h], undefined, `${h} on an answer no rate limit applies to`);
  }
  await proxy.stopClean();
});

test('a budget 429 to a caller under a rate limit carries its x-ratelimit-* (SPEC §3), the levels without the refused request', async (t) => {
  const body = chatBody({ maxTokens: 100 });
  const worst = worstCasePico(Buffer.byteLength(body), 100);
  const { proxy } = await setup(t, {
    budgets: [budget(worst + worst / 2n)],
    rate_limits: [{ name: 'per-key', scope: 'key', requests_per_minute: 10, tokens_per_minute: 10000 }],
  });
  const first = await chat(proxy.url, body);
  assert.equal(first.status, 200, first.text);
  assertRateHeaders(first, 'requests', { limit: 10, remaining: 9 }, 'allowed');
  // The answer settles below its worst case, but a second worst case does not fit beside it.
  const refused = await chat(proxy.url, chatBody({ maxTokens: 400 }));
  assertDenied(refused, 'budget', { what: 'over the budget' });
  assertBudgetHeaders(refused, { what: 'over the budget' });
  assertRateHeaders(refused, 'requests', { limit: 10, remaining: 9 }, 'budget 429');
  assertRateHeaders(refused, 'tokens', { limit: 10000 }, 'budget 429');
  await proxy.stopClean();
});

// ---------------------------------------------------------------------------------------------
// Order: emergency stop, identity, per-request limit, rate limits, budgets
// ---------------------------------------------------------------------------------------------

test('enforcement order: emergency stop > identity > per-request limit > rate limits > budgets; a refusal charges nothing', async (t) => {
  const VK = 'sg-vk-order-test-0123456789abcdef';
  const { up, proxy, ledger } = await setup(t, {
    identity: { virtual_keys: [{ id: 'vk1', key_sha256: sha256hex(VK) }], passthrough: false },
    request_limits: { max_cost_usd: 0.01 },
    rate_limits: [{ name: 'rpm', scope: 'global', requests_per_minute: 1 }],
    budgets: [{ name: 'mini-only', scope: 'global', match: { model: 'gpt-4o-mini' }, period: 'day', limit_usd: 0.000001, mode: 'hard' }],
  }, { env: { SG_IT_OPENAI_KEY: 'sk-real' }, providerExtra: { openai: { api_key_env: 'SG_IT_OPENAI_KEY' } } });
  const tooBig = chatBody({ maxTokens: 100000, model: 'gpt-4o' }); // 1.0 USD+ worst case > 0.01
  const cheapOther = chatBody({ maxTokens: 10, model: 'gpt-4o' });
  const cheapMini = chatBody({ maxTokens: 10 });

  // Unknown key + too expensive -> identity first.
  assertDenied(await chat(proxy.url, tooBig, { key: 'sk-unknown' }), 'unknown_key', { what: 'unknown key, too expensive' });
  // Known key + too expensive -> per-request, and it does not use up the 1/min rate limit.
  assertDenied(await chat(proxy.url, tooBig, { key: VK }), 'request_cost', { what: 'too expensive' });
  // Budget refusal does not use the rate limit either (all or nothing).
  assertDenied(await chat(proxy.url, cheapMini, { key: VK }), 'budget', { what: 'budget only' });
  // The one request per minute is still there: a model the budget does not match passes.
  const ok = await chat(proxy.url, cheapOther, { key: VK });
  assert.equal(ok.status, 200, `the refusals above must not have used the rate limit: ${ok.text}`);
  // Now rate limit and budget would both refuse -> rate limit comes first.
  assertDenied(await chat(proxy.url, cheapMini, { key: VK }), 'rate_limit', { what: 'rate and budget both refuse' });
  // Per-request limit comes before the (now exhausted) rate limit.
  assertDenied(await chat(proxy.url, tooBig, { key: VK }), 'request_cost', { what: 'too expensive, rate limit exhausted' });

  // Emergency stop comes before everything, identity included.
  const stop = await request(`${proxy.adminUrl}/admin/emergency-stop`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ active: true, reason: 'order test' }),
  });
  assert.equal(stop.status, 200, stop.text);
  assertDenied(await chat(proxy.url, tooBig, { key: 'sk-unknown' }), 'emergency_stop', { what: 'estop + unknown key' });
  assertDenied(await chat(proxy.url, cheapMini, { key: VK }), 'emergency_stop', { what: 'estop + rate + budget' });

  assert.equal(up.requests.length, 1, 'only the one admitted request reached the upstream');
  await sleep(150);
  assert.equal(readLedger(ledger).length, 1, 'only the admitted request has a ledger line');
  await proxy.stopClean();
});

// ---------------------------------------------------------------------------------------------
// Emergency stop through the admin API (memory store)
// ---------------------------------------------------------------------------------------------

test('emergency stop via admin API: 503 emergency_stop (x-should-retry false, no retry-after without an end), GET state, off restores; token required', async (t) => {
  const TOKEN = 'admin-token-for-estop-test';
  const { up, proxy } = await setup(t, {}, {
    env: { SPENDGATE_ADMIN_TOKEN: TOKEN },
    admin: { listen: '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' },
  });
  const adminReq = (method, path, body, token = TOKEN) => request(`${proxy.adminUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.equal((await adminReq('GET', '/admin/emergency-stop', undefined, null)).status, 401, 'no token -> 401');
  assert.equal((await adminReq('POST', '/admin/emergency-stop', { active: true }, 'wrong')).status, 401, 'wrong token -> 401');
  assert.equal((await chat(proxy.url, chatBody())).status, 200, 'an unauthorized POST must not turn the stop on');

  const initial = (await adminReq('GET', '/admin/emergency-stop')).json();
  assert.equal(initial.active, false, JSON.stringify(initial));
  for (const k of ['active', 'reason', 'since', 'until', 'source']) assert.ok(k in initial, `${k} missing in ${JSON.stringify(initial)}`);

  const before = Date.now();
  const on = await adminReq('POST', '/admin/emergency-stop', { active: true, reason: 'runaway agent' });
  assert.equal(on.status, 200, on.text);
  const state = on.json();
  assert.equal(state.active, true);
  assert.equal(state.reason, 'runaway agent');
  assert.equal(state.source, 'manual');
  assert.equal(state.until, null);
  assert.match(state.since, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.ok(Math.abs(Date.parse(state.since) - before) < 5000, `since ${state.since}`);
  assert.deepEqual((await adminReq('GET', '/admin/emergency-stop')).json(), state, 'GET answers the state the POST answered');

  const denied = await chat(proxy.url, chatBody());
  const body = assertDenied(denied, 'emergency_stop');
  assert.equal(denied.headers['x-should-retry'], 'false');
  assert.equal(denied.headers['retry-after'], undefined, 'no retry-after when the stop has no end');
  assert.match(body.error.message, /runaway agent/, 'the message carries the reason');
  for (const [fmt, path, headers, b] of [
    ['anthropic', '/v1/messages', { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' }, { model: 'claude-3-5-haiku-20241022', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }],
    ['gemini', '/v1beta/models/gemini-2.0-flash:generateContent', { 'x-goog-api-key': 'k' }, { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }],
  ]) {
    const r = await request(`${proxy.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(b) });
    assertDenied(r, 'emergency_stop', { format: fmt, what: fmt });
  }

  const timed = (await adminReq('POST', '/admin/emergency-stop', { active: true, reason: 'timed', for: '1h' })).json();
  assert.equal(timed.active, true);
  assert.ok(Math.abs(Date.parse(timed.until) - Date.now() - 3600_000) < 5000, `until ${timed.until} ~ now + 1h`);
  const d2 = await chat(proxy.url, chatBody());
  assertDenied(d2, 'emergency_stop');
  const ra = Number(d2.headers['retry-after']);
  assert.ok(ra >= 3595 && ra <= 3600, `retry-after ${d2.headers['retry-after']} ~ 3600 for a 1h stop`);

  const bad = await adminReq('POST', '/admin/emergency-stop', { active: true, for: 'soon' });
  assert.equal(bad.status, 400, `bad duration -> 400: ${bad.text}`);

  const off = (await adminReq('POST', '/admin/emergency-stop', { active: false })).json();
  assert.equal(off.active, false);
  const r = await chat(proxy.url, chatBody());
  assert.equal(r.status, 200, r.text);
  assert.equal(up.requests.length, 2);
  await proxy.stopClean();
});

test('automatic emergency stop: trips (source auto) once global spend reaches spend_usd; until = since + hold, retry-after ~ hold; off restores and suppresses it for the period', async (t) => {
  // Each answer: 19 prompt + 10 completion tokens = 2.85 + 6.00 = 8.85 microdollars.
  const per = chatCostPico(19, 10);
  assert.equal(per, 8_850_000n);
  const { up, proxy, ledger } = await setup(t, { emergency_stop: { auto: { spend_usd: 0.00002, period: 'day', hold: '1h' } } });
  for (let i = 0; i < 3; i++) {
    const r = await chat(proxy.url, chatBody());
    assert.equal(r.status, 200, `request ${i + 1} (spend before it ${picoToUsd(per * BigInt(i))}): ${r.text}`);
  }
  await waitForLedger(ledger, 3, { settleMs: 0 });
  // 3 x 8.85 = 26.55 >= 20 microdollars -> tripped by the third settle.
  let denied = null;
  const deadline = Date.now() + 2000;
  while (!denied && Date.now() < deadline) {
    const r = await chat(proxy.url, chatBody());
    if (r.status !== 200) denied = r; else await sleep(50);
  }
  assert.ok(denied, 'auto stop never tripped');
  assert.equal(up.requests.length, 3, 'no request after the spend passed spend_usd reached the upstream');
  const body = assertDenied(denied, 'emergency_stop', { what: 'auto stop' });
  assert.equal(denied.headers['x-should-retry'], 'false');
  const state = (await request(`${proxy.adminUrl}/admin/emergency-stop`)).json();
  assert.equal(state.active, true, JSON.stringify(state));
  assert.equal(state.source, 'auto', JSON.stringify(state));
  // The hold, not the end of the day (SPEC: `hold: 1h`).
  assert.equal(Date.parse(state.until) - Date.parse(state.since), 3600_000, `until ${state.until} = since ${state.since} + 1h`);
  assert.ok(Math.abs(Date.parse(state.since) - Date.now()) < 10_000, `since ${state.since} ~ now`);
  const ra = Number(denied.headers['retry-after']);
  assert.ok(ra <= 3600 && ra > 3600 - 10, `retry-after ${ra} ~ the 1h hold`);
  assert.ok(Number(denied.headers['retry-after-ms'] ?? 3600_000) <= 3600_000, 'retry-after-ms within the hold');
  assert.match(body.error.message, /auto/, body.error.message);

  const off = await request(`${proxy.adminUrl}/admin/emergency-stop`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"active":false}' });
  assert.equal(off.status, 200, off.text);
  for (let i = 0; i < 3; i++) {
    const r = await chat(proxy.url, chatBody());
    assert.equal(r.status, 200, `after turning an auto stop off it must not trip again this period (request ${i + 1}): ${r.text}`);
    await sleep(30);
  }
  await proxy.stopClean();
});

test('automatic emergency stop: when the hold ends with the period still over spend_usd, the next settled request trips it again with a fresh since/until', async (t) => {
  const HOLD_MS = 3000;
  const { up, proxy, ledger } = await setup(t, {
    emergency_stop: { auto: { spend_usd: 0.00002, period: 'day', hold: '3s' } },
    alerts: { cooldown: '1s' }, // so that the second trip's alert is not held back
  });
  for (let i = 0; i < 3; i++) assert.equal((await chat(proxy.url, chatBody())).status, 200, `request ${i + 1}`);
  await waitForLedger(ledger, 3, { settleMs: 0 });
  const tripped = await pollEstop(proxy, (s) => s.active, 'the first trip');
  assert.equal(tripped.source, 'auto');
  assert.equal(Date.parse(tripped.until) - Date.parse(tripped.since), HOLD_MS, JSON.stringify(tripped));

  // After the hold the stop lets requests through again: this one reaches the upstream.
  await sleep(Math.max(0, Date.parse(tripped.until) - Date.now()) + 200);
  const through = await chat(proxy.url, chatBody());
  assert.equal(through.status, 200, `after the hold: ${through.text}`);
  assert.equal(up.requests.length, 4);
  await waitForLedger(ledger, 4, { settleMs: 0 });

  // Its settle finds the day's spend still over spend_usd: a new trip, with its own since/until.
  const again = await pollEstop(proxy, (s) => s.active && s.since !== tripped.since, 'the second trip');
  assert.equal(again.source, 'auto');
  assert.ok(Date.parse(again.since) >= Date.parse(tripped.until), `second since ${again.since} after the first until ${tripped.until}`);
  assert.equal(Date.parse(again.until) - Date.parse(again.since), HOLD_MS, JSON.stringify(again));
  const denied = await chat(proxy.url, chatBody());
  if (Date.now() < Date.parse(again.until) - 500) {
    assertDenied(denied, 'emergency_stop', { what: 'second trip' });
    const ra = Number(denied.headers['retry-after']);
    assert.ok(ra >= 1 && ra <= 3, `retry-after ${ra} counts down the 3 s hold`);
  }
  assert.equal(up.requests.length, 4 + (denied.status === 200 ? 1 : 0), 'nothing else reached the upstream');
  // Each trip has its own alert (alerts.cooldown is 1s here), and the end of the first hold has
  // its off alert between them, whether the timer or the re-trip noticed it first.
  let ids = (await request(`${proxy.adminUrl}/admin/alerts`)).json()
    .filter((a) => a.kind.startsWith('emergency_stop')).map((a) => a.id);
  if (ids[0] === `emergency_stop:off:${Date.parse(again.until)}`) ids = ids.slice(1); // a slow run
  assert.deepEqual(ids, [
    `emergency_stop:on:${Date.parse(again.since)}`,
    `emergency_stop:off:${Date.parse(tripped.until)}`,
    `emergency_stop:on:${Date.parse(tripped.since)}`,
  ], 'newest first: on, off, on');

  // With no request to settle, the second hold ends on the timer alone: stored off, alerted.
  await sleep(Math.max(0, Date.parse(again.until) - Date.now()) + 1000);
  const ended = (await request(`${proxy.adminUrl}/admin/emergency-stop`)).json();
  assert.deepEqual(ended, { active: false, reason: '', since: again.until, until: null, source: 'auto' });
  const [last] = (await request(`${proxy.adminUrl}/admin/alerts`)).json();
  assert.equal(last.id, `emergency_stop:off:${Date.parse(again.until)}`, JSON.stringify(last));
  assert.equal(last.details.ended, 'ran_out');
  assert.match((await request(`${proxy.adminUrl}/metrics`)).text, /^spendgate_emergency_stop 0$/m);
  await proxy.stopClean();
});

/** Polls GET /admin/emergency-stop every 50 ms (at most 3 s) until pred(state). */
async function pollEstop(proxy, pred, what) {
  const deadline = Date.now() + 3000;
  for (;;) {
    const state = (await request(`${proxy.adminUrl}/admin/emergency-stop`)).json();
    if (pred(state)) return state;
    assert.ok(Date.now() < deadline, `${what}: not seen within 3 s; last ${JSON.stringify(state)}`);
    await sleep(50);
  }
}
