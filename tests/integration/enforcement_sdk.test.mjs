// Denials as the official SDKs see them (maxRetries: 2): a budget denial is a RateLimitError with
// our message and is NOT retried (x-should-retry: false); a rate-limit denial IS retried after
// retry-after-ms and then succeeds. Attempts are counted with a counting fetch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startProxy, providers } from './lib/proxy.mjs';
import { ledgerPathOf, waitForLedger, sha256hex } from './lib/ledger.mjs';
import { startMeteredUpstream, chatBody, chat, keepAliveAgent } from './lib/enforcement.mjs';

/** fetch that records every attempt the SDK makes (status of each answer). */
function countingFetch() {
  const attempts = [];
  const f = async (url, init) => {
    const at = performance.now();
    const res = await fetch(url, init);
    attempts.push({ url: String(url), status: res.status, at, denied: res.headers.get('x-spendgate-denied') });
    return res;
  };
  f.attempts = attempts;
  return f;
}

async function setup(t, extra) {
  const up = await startMeteredUpstream(t);
  const proxy = await startProxy(t, { providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }), extra });
  return { up, proxy, ledger: ledgerPathOf(proxy) };
}

const CHAT_REQ = { model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'Say hello' }] };

test('openai SDK (maxRetries 2): budget denial -> RateLimitError 429 with our message, not retried', async (t) => {
  const { up, proxy } = await setup(t, {
    budgets: [{ name: 'sdk-budget', scope: 'global', period: 'day', limit_usd: 0.000001, mode: 'hard' }],
  });
  const f = countingFetch();
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 2, timeout: 30_000, fetch: f });
  const t0 = performance.now();
  const err = await client.chat.completions.create(CHAT_REQ).then(() => null, (e) => e);
  const elapsed = performance.now() - t0;
  assert.ok(err, 'the request must fail');
  assert.ok(err instanceof OpenAI.RateLimitError, `expected RateLimitError, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, 429);
  assert.equal(err.code, 'budget_exceeded');
  assert.equal(err.type, 'insufficient_quota');
  assert.match(err.error?.message ?? '', /^Budget "sdk-budget" cannot take this request for this day: its worst case, up to \$[0-9.]+, does not fit in the \$0\.000001 that remains \(\$0 spent of the \$0\.000001 limit\)\. It resets at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\.$/,
    `err.error.message: ${err.error?.message}`);
  assert.ok(err.message.includes(err.error.message), `the SDK error message must show ours: ${err.message}`);
  assert.equal(err.headers.get?.('x-spendgate-denied') ?? err.headers['x-spendgate-denied'], 'budget');
  assert.equal(f.attempts.length, 1, `the SDK must not retry a budget denial: attempts ${JSON.stringify(f.attempts)}`);
  assert.ok(elapsed < 400, `no retry back-off expected, took ${elapsed.toFixed(0)} ms`);
  assert.equal(up.requests.length, 0);
  await proxy.stopClean();
});

test('openai SDK on Gemini\'s OpenAI-compatible API, model "models/gemini-2.5-flash": the model-matched hard budget applies; the ledger names the model without the prefix, the body goes upstream unchanged', async (t) => {
  const { up, proxy, ledger } = await setup(t, {
    budgets: [{ name: 'flash-cap', scope: 'global', match: { model: 'gemini-2.5-flash' }, period: 'day', limit_usd: 0.000001, mode: 'hard' }],
  });
  const client = new OpenAI({ apiKey: 'gm-test', baseURL: `${proxy.url}/v1beta/openai`, maxRetries: 0, timeout: 30_000 });
  const req = (model) => ({ model, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
  // The id /v1beta/openai/models lists names the same model as the native path does.
  const err = await client.chat.completions.create(req('models/gemini-2.5-flash')).then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `expected the flash-cap budget to refuse it, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.code, 'budget_exceeded');
  assert.match(err.error?.message ?? '', /^Budget "flash-cap"/);
  assert.equal(up.requests.length, 0);

  const { response } = await client.chat.completions.create(req('models/gemini-2.5-pro')).withResponse();
  assert.equal(up.requests.length, 1);
  assert.equal(up.requests[0].url, '/v1beta/openai/chat/completions');
  assert.equal(JSON.parse(up.requests[0].body.toString()).model, 'models/gemini-2.5-pro', 'the body goes upstream unchanged');
  const [{ json: entry }] = await waitForLedger(ledger, 1);
  assert.equal(entry.request_id, response.headers.get('x-spendgate-request-id'));
  assert.equal(entry.requested_model, 'gemini-2.5-pro');
  await proxy.stopClean();
});

test('openai SDK (maxRetries 2): rate-limit denial is retried after retry-after-ms and then succeeds', async (t) => {
  const { up, proxy, ledger } = await setup(t, {
    rate_limits: [{ name: 'rpm', scope: 'key', requests_per_minute: 60 }],
  });
  // Use up the burst for this key (same key the SDK sends) until the first refusal.
  const agent = keepAliveAgent(10);
  t.after(() => agent.destroy());
  // A refusal that says "retry in a few ms" would let the SDK's first attempt pass by luck: go on
  // until a refusal asks for at least 300 ms.
  let refusal = null;
  let passed = 0;
  for (let round = 0; round < 5; round++) {
    refusal = null;
    for (let i = 0; i < 120 && !refusal; i++) {
      const r = await chat(proxy.url, chatBody(), { key: 'sk-test', agent });
      if (r.status === 200) passed++; else refusal = r;
    }
    assert.ok(refusal, 'the rate limit never refused');
    const ms = Number(refusal.headers['retry-after-ms']);
    if (ms >= 300) break;
    await new Promise((r) => setTimeout(r, ms + 10));
  }
  assert.equal(refusal.headers['x-spendgate-denied'], 'rate_limit', refusal.text);
  const f = countingFetch();
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 2, timeout: 30_000, fetch: f });
  const t0 = performance.now();
  const { data, response } = await client.chat.completions.create(CHAT_REQ).withResponse();
  const elapsed = performance.now() - t0;
  assert.equal(response.status, 200);
  assert.equal(data.usage.total_tokens, 29);
  assert.deepEqual(f.attempts.map((a) => `${a.status} ${a.denied ?? ''}`.trim()), ['429 rate_limit', '200'],
    `the SDK must retry the rate-limit denial once and succeed: ${JSON.stringify(f.attempts)}`);
  const gap = f.attempts[1].at - f.attempts[0].at;
  assert.ok(gap >= 500 && gap <= 1500, `the retry waited ${gap.toFixed(0)} ms (retry-after-ms <= 1000)`);
  assert.ok(elapsed < 3000, `took ${elapsed.toFixed(0)} ms`);
  assert.equal(up.requests.length, passed + 1, 'the refused attempt never reached the upstream');
  await waitForLedger(ledger, passed + 1);
  await proxy.stopClean();
});

test('anthropic SDK (maxRetries 2): budget denial -> RateLimitError 429 (rate_limit_error) with our message, not retried', async (t) => {
  const { up, proxy } = await setup(t, {
    budgets: [{ name: 'sdk-budget', scope: 'global', period: 'day', limit_usd: 0.000001, mode: 'hard' }],
  });
  const f = countingFetch();
  const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: proxy.url, maxRetries: 2, timeout: 30_000, fetch: f });
  const t0 = performance.now();
  const err = await client.messages.create({ model: 'claude-3-5-haiku-20241022', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
    .then(() => null, (e) => e);
  const elapsed = performance.now() - t0;
  assert.ok(err instanceof Anthropic.RateLimitError, `expected RateLimitError, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, 429);
  assert.equal(err.error?.type, 'error');
  assert.equal(err.error?.error?.type, 'rate_limit_error');
  assert.match(err.error?.error?.message ?? '', /^Budget "sdk-budget" cannot take this request/, JSON.stringify(err.error));
  // This SDK shows the JSON error body in err.message (quotes escaped).
  assert.ok(err.message.includes('cannot take this request for this day'), `SDK message: ${err.message}`);
  assert.equal(f.attempts.length, 1, `the SDK must not retry a budget denial: ${JSON.stringify(f.attempts)}`);
  assert.ok(elapsed < 400, `no retry back-off expected, took ${elapsed.toFixed(0)} ms`);
  assert.equal(up.requests.length, 0);
  await proxy.stopClean();
});

const headerOf = (err, name) => err.headers?.get?.(name) ?? err.headers?.[name];

test('SDK errors carry the request id: err.requestID (openai from x-request-id, anthropic from request-id) equals x-spendgate-request-id on proxy answers; forwarded answers keep the upstream id', async (t) => {
  const { up, proxy } = await setup(t, {
    budgets: [{ name: 'tiny', scope: 'global', match: { model: 'gpt-4o' }, period: 'day', limit_usd: 0.000001, mode: 'hard' },
      { name: 'tiny-claude', scope: 'global', match: { model: 'claude*' }, period: 'day', limit_usd: 0.000001, mode: 'hard' }],
  });
  const openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0, timeout: 30_000 });
  const err = await openai.chat.completions.create({ ...CHAT_REQ, model: 'gpt-4o' }).then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `openai: ${err?.constructor?.name}: ${err?.message}`);
  assert.ok(headerOf(err, 'x-spendgate-request-id'), 'x-spendgate-request-id');
  assert.equal(err.requestID, headerOf(err, 'x-spendgate-request-id'), 'openai err.requestID');

  const anthropic = new Anthropic({ apiKey: 'sk-ant-test', baseURL: proxy.url, maxRetries: 0, timeout: 30_000 });
  const aerr = await anthropic.messages.create({ model: 'claude-3-5-haiku-20241022', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
    .then(() => null, (e) => e);
  assert.ok(aerr instanceof Anthropic.RateLimitError, `anthropic: ${aerr?.constructor?.name}: ${aerr?.message}`);
  assert.ok(headerOf(aerr, 'x-spendgate-request-id'), 'x-spendgate-request-id');
  assert.equal(aerr.requestID, headerOf(aerr, 'x-spendgate-request-id'), 'anthropic err.requestID');
  assert.equal(headerOf(aerr, 'x-request-id'), undefined, 'the Anthropic format gets request-id only');

  // A proxy error that is not a denial (no route) carries it too.
  const missing = await chat(proxy.url, chatBody(), { path: '/nowhere' });
  assert.equal(missing.status, 404, missing.text);
  assert.equal(missing.headers['x-request-id'], missing.headers['x-spendgate-request-id']);

  // A forwarded answer keeps the upstream's own x-request-id.
  const { response } = await openai.chat.completions.create(CHAT_REQ).withResponse();
  assert.equal(response.status, 200);
  assert.match(response.headers.get('x-request-id'), /^req_/, 'the upstream id, not ours');
  assert.notEqual(response.headers.get('x-request-id'), response.headers.get('x-spendgate-request-id'));
  assert.equal(up.requests.length, 1);
  await proxy.stopClean();
});

test('openai SDK (maxRetries 2): 500 provider_key_missing is not retried (x-should-retry: false) and has err.requestID', async (t) => {
  const VK = 'sg-vk-provider-key-missing-test-0001';
  const up = await startMeteredUpstream(t);
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url },
      { openai: { api_key_env: 'SG_IT_UNSET_PROVIDER_KEY_SDK' } }),
    extra: { identity: { virtual_keys: [{ id: 'vk', key_sha256: sha256hex(VK) }], passthrough: true } },
  });
  const f = countingFetch();
  const client = new OpenAI({ apiKey: VK, baseURL: `${proxy.url}/v1`, maxRetries: 2, timeout: 30_000, fetch: f });
  const err = await client.chat.completions.create(CHAT_REQ).then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.InternalServerError, `${err?.constructor?.name}: ${err?.message}`);
  assert.equal(f.attempts.length, 1, `reached the proxy once: ${JSON.stringify(f.attempts)}`);
  assert.equal(err.code, 'provider_key_missing');
  assert.equal(headerOf(err, 'x-should-retry'), 'false');
  assert.equal(err.requestID, headerOf(err, 'x-spendgate-request-id'));
  assert.equal(up.requests.length, 0);
  await proxy.stopClean();
});
