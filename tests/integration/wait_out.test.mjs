// A non-streamed metered call whose answer is late: the provider runs (and bills) it whoever waits.
// - spendgate's own 504 after the request reached the upstream says x-should-retry: false, so an
//   SDK does not send the prompt again (each retry another paid run);
// - a client that leaves before the answer (SDK timeout) no longer stops the upstream: the answer
//   is read for its usage (ledger 499, usage_source provider), the reservation released then;
// - a 504 for a non-streamed call charges its output bound (the provider is likely still
//   generating), a stream's only the input;
// - SIGTERM's grace still ends such a wait.
// With the official openai SDK against a fake upstream on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json, sleep } from './lib/fake_upstream.mjs';
import { request, withTimeout } from './lib/http.mjs';
import { ledgerPathOf, waitForEntry, waitForLedger, rawMember, usdToPico, perMillion, assertLedgerShape, assertFields } from './lib/ledger.mjs';
import { chatCostPico } from './lib/enforcement.mjs';
import { chatCompletion, chatUsage } from './lib/openai_stream.mjs';
import { ANTHROPIC_MESSAGE } from './lib/fixtures.mjs';

const ADMIN_TOKEN = `adm-${randomBytes(8).toString('hex')}`;
const PROMPT = 1234;
const COMPLETION = 567;
const MAX_TOKENS = 900;
const CHAT = { model: 'gpt-4o-mini', max_completion_tokens: MAX_TOKENS, messages: [{ role: 'user', content: 'think hard' }] };

/**
 * An upstream that answers every chat after `delayMs` with PROMPT/COMPLETION usage, and records
 * for each request whether its connection was closed before the answer could go.
 */
async function slowUpstream(t, delayMs) {
  const runs = [];
  const up = await startUpstream({
    handler: async (req, res) => {
      const run = { answered: false, abandoned: false };
      runs.push(run);
      const socket = req.socket;
      await sleep(delayMs);
      if (socket.destroyed) {
        run.abandoned = true;
        return;
      }
      if (req.url.startsWith('/v1/messages')) {
        const usage = { input_tokens: PROMPT, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: COMPLETION };
        json(res, 200, { ...ANTHROPIC_MESSAGE, usage });
      } else {
        json(res, 200, chatCompletion({ usage: chatUsage({ prompt: PROMPT, completion: COMPLETION }) }));
      }
      run.answered = true;
    },
  });
  t.after(() => up.close());
  return { up, runs };
}

async function proxyFor(t, up, server) {
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    server,
    admin: { listen: '127.0.0.1:0', token_env: 'SG_IT_ADMIN_TOKEN' },
    env: { SG_IT_ADMIN_TOKEN: ADMIN_TOKEN },
    extra: { budgets: [{ name: 'org', scope: 'global', period: 'day', limit_usd: 100, mode: 'hard' }] },
  });
  await proxy.waitForAdmin();
  return proxy;
}

/** The hard budget's reserved_usd (admin API). */
async function reservedUsd(proxy) {
  const res = await request(`${proxy.adminUrl}/admin/budgets`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(res.status, 200, res.text);
  return res.json().find((b) => b.name === 'org').reserved_usd;
}

const exactCost = (entry) => BigInt(usdToPico(rawMember(entry.raw, 'cost_usd')));

test('openai SDK (default retries): spendgate\'s 504 after first_byte_timeout is not retried: one upstream run', async (t) => {
  const { up, runs } = await slowUpstream(t, 3000);
  const proxy = await proxyFor(t, up, { first_byte_timeout: '1s', request_timeout: '30s' });
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, timeout: 30_000 });
  const err = await client.chat.completions.create(CHAT).then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.InternalServerError, `expected a 504 error, got ${err}`);
  assert.equal(err.status, 504);
  // Without x-should-retry the SDK sends it twice more: three paid runs.
  assert.equal(up.requests.length, 1, `upstream runs: ${up.requests.length}`);
  assert.equal(err.headers?.get?.('x-should-retry') ?? err.headers?.['x-should-retry'], 'false');
  const [e] = await waitForLedger(ledgerPathOf(proxy), 1);
  assertLedgerShape(e);
  assertFields(e, { status: 504, stream: false, usage_source: 'estimated' });
  assert.equal(runs.length, 1);
  await proxy.stopClean();
});

test('openai SDK timeout before a non-streamed answer: the answer is still read, ledger 499 with the provider\'s usage, reservation released', async (t) => {
  const { up, runs } = await slowUpstream(t, 2000);
  const proxy = await proxyFor(t, up, { first_byte_timeout: '10s', request_timeout: '30s' });
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, timeout: 1000, maxRetries: 0 });
  const t0 = performance.now();
  const err = await client.chat.completions.create(CHAT).then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.APIConnectionTimeoutError, `expected the SDK's timeout, got ${err}`);
  assert.ok(performance.now() - t0 < 1900, 'the client gave up before the answer');
  const [e] = await waitForLedger(ledgerPathOf(proxy), 1, { timeout: 10_000 });
  assertLedgerShape(e);
  // Without the wait the upstream connection is closed at once: input estimated, output 0.
  assertFields(e, { status: 499, stream: false, usage_source: 'provider', input_tokens: PROMPT, output_tokens: COMPLETION });
  assert.equal(exactCost(e), chatCostPico(PROMPT, COMPLETION));
  assert.deepEqual(runs, [{ answered: true, abandoned: false }]);
  assert.equal(await reservedUsd(proxy), 0);
  // The proxy serves on.
  const again = await new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0 }).chat.completions.create(CHAT);
  assert.equal(again.usage.completion_tokens, COMPLETION);
  await proxy.stopClean();
});

test('anthropic SDK timeout before a non-streamed answer: ledger 499 with the provider\'s usage', async (t) => {
  const { up, runs } = await slowUpstream(t, 2000);
  const proxy = await proxyFor(t, up, { first_byte_timeout: '10s', request_timeout: '30s' });
  const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: proxy.url, timeout: 1000, maxRetries: 0 });
  const err = await client.messages.create({ model: 'claude-3-5-haiku-20241022', max_tokens: MAX_TOKENS, messages: [{ role: 'user', content: 'think hard' }] })
    .then(() => null, (e) => e);
  assert.ok(err instanceof Anthropic.APIConnectionTimeoutError, `expected the SDK's timeout, got ${err}`);
  const [e] = await waitForLedger(ledgerPathOf(proxy), 1, { timeout: 10_000 });
  assertFields(e, { status: 499, stream: false, usage_source: 'provider', input_tokens: PROMPT, output_tokens: COMPLETION });
  assert.equal(exactCost(e), perMillion(PROMPT, '0.80') + perMillion(COMPLETION, '4.00'));
  assert.deepEqual(runs, [{ answered: true, abandoned: false }]);
  assert.equal(await reservedUsd(proxy), 0);
  await proxy.stopClean();
});

test('a client that leaves before a stream\'s head still stops the upstream: 499, input estimated only', async (t) => {
  const { up, runs } = await slowUpstream(t, 4000);
  const proxy = await proxyFor(t, up, { first_byte_timeout: '10s', request_timeout: '30s' });
  const req = http.request(`${proxy.url}/v1/chat/completions`, {
    method: 'POST', agent: false, headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
  });
  req.on('error', () => {});
  req.end(JSON.stringify({ ...CHAT, stream: true }));
  await up.waitForRequest(1);
  await sleep(500); // past the sweeps that start the disconnect watch
  req.destroy();
  await withTimeout(up.connections[0].closed, 3000, 'the upstream connection closed after the stream\'s client left');
  const [e] = await waitForLedger(ledgerPathOf(proxy), 1);
  assertFields(e, { status: 499, stream: true, usage_source: 'estimated', output_tokens: 0 });
  assert.equal(await reservedUsd(proxy), 0);
  await sleep(3600);
  assert.deepEqual(runs, [{ answered: false, abandoned: true }]);
  await proxy.stopClean();
});

test('504 after first_byte_timeout: a non-streamed call is charged its output bound, a stream its input only', async (t) => {
  const { up } = await slowUpstream(t, 3000);
  const proxy = await proxyFor(t, up, { first_byte_timeout: '1s', request_timeout: '30s' });
  const send = (body) => request(`${proxy.url}/v1/chat/completions`, {
    method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
  });
  const held = await send(CHAT);
  assert.equal(held.status, 504, held.text);
  const h = await waitForEntry(ledgerPathOf(proxy), held.headers['x-spendgate-request-id']);
  // Without: output 0 (input only), though the provider is likely still generating.
  assertFields(h, { status: 504, stream: false, usage_source: 'estimated', output_tokens: MAX_TOKENS });
  assert.equal(exactCost(h), chatCostPico(h.json.input_tokens, MAX_TOKENS));
  assert.equal(Number(held.headers['x-spendgate-cost-usd']), h.json.cost_usd, 'the 504 says what the ledger charges');
  const streamed = await send({ ...CHAT, stream: true });
  assert.equal(streamed.status, 504, streamed.text);
  const s = await waitForEntry(ledgerPathOf(proxy), streamed.headers['x-spendgate-request-id']);
  assertFields(s, { status: 504, stream: true, usage_source: 'estimated', output_tokens: 0 });
  assert.equal(await reservedUsd(proxy), 0);
  await proxy.stopClean();
});

test('SIGTERM while an answer is awaited for a client that left: the grace ends the wait, the line is written', async (t) => {
  const { up } = await startUpstreamNeverAnswering(t);
  const proxy = await proxyFor(t, up, { first_byte_timeout: '60s', request_timeout: '120s', shutdown_grace: '1s' });
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, timeout: 1000, maxRetries: 0 });
  const err = await client.chat.completions.create(CHAT).then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.APIConnectionTimeoutError, `expected the SDK's timeout, got ${err}`);
  await sleep(300);
  const t0 = performance.now();
  // Without closing the awaited upstream at the grace's end, it waits for first_byte_timeout (60 s).
  await proxy.stopClean({ timeout: 10_000 });
  t.diagnostic(`exited ${(performance.now() - t0).toFixed(0)} ms after SIGTERM`);
  const [e] = await waitForLedger(ledgerPathOf(proxy), 1);
  // The provider still works on it when the grace cuts it off: its output bound, as a timeout.
  assertFields(e, { status: 499, stream: false, usage_source: 'estimated', output_tokens: MAX_TOKENS });
});

async function startUpstreamNeverAnswering(t) {
  const up = await startUpstream({ handler: () => { /* never answers */ } });
  t.after(() => up.close());
  return { up };
}
