// Metering under bad input: malformed or missing usage, absurd counts, cut streams, client
// disconnects and errors inside a 200 stream. The proxy must relay what it got, stay up, and still
// write exactly one ledger line per request, flagged usage_source "estimated".
//
// For estimated lines the counts are the proxy's guess, so the test checks the cost against the
// ledger's own counts with the catalog rates (by hand, in picodollars):
//   gpt-4o-mini                input 0.15  cached 0.075  output 0.60
//   claude-3-5-haiku-20241022  input 0.80  cached 0.08   5m write 1.00  output 4.00
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json, startSse, sseFrame, writeAsync, sleep } from './lib/fake_upstream.mjs';
import { postJson } from './lib/http.mjs';
import { assertProxyError, SAMPLE } from './lib/errors.mjs';
import {
  ledgerPathOf, waitForEntry, waitForLedger, readLedger, assertCost, assertLedgerShape, assertFields, costOf, picoToUsd,
} from './lib/ledger.mjs';
import { openaiChatStreamFrames, chatUsage, chatCompletion } from './lib/openai_stream.mjs';

async function setup(t, handler, proxyOpts = {}) {
  const up = await startUpstream({ handler });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    ...proxyOpts,
  });
  return { up, proxy, ledger: ledgerPathOf(proxy) };
}

const parseBody = (rec) => { try { return JSON.parse(rec.body.toString() || '{}'); } catch { return {}; } };
const OA_HEADERS = { authorization: 'Bearer sk-test' };
const AN_HEADERS = { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' };

/** Hand cost of a gpt-4o-mini line from its own counts. */
function miniCost(j) {
  return picoToUsd(costOf([[j.input_tokens - j.cached_input_tokens, '0.15'], [j.cached_input_tokens, '0.075'], [j.output_tokens, '0.60']]));
}
/** Hand cost of a claude-3-5-haiku line from its own counts (all cache writes 5m here). */
function haikuCost(j) {
  return picoToUsd(costOf([
    [j.input_tokens - j.cached_input_tokens - j.cache_write_tokens, '0.80'], [j.cached_input_tokens, '0.08'],
    [j.cache_write_tokens, '1.00'], [j.output_tokens, '4.00'],
  ]));
}

/** A request that ends however it ends (complete, aborted, reset): resolves { status, headers, body, error }. */
function tolerantRequest(url, { method = 'POST', headers = {}, body, onData } = {}) {
  return new Promise((resolve) => {
    let res0 = null;
    const chunks = [];
    let settled = false;
    const done = (error) => {
      if (settled) return;
      settled = true;
      resolve({ status: res0?.statusCode, headers: res0?.headers ?? {}, body: Buffer.concat(chunks), error });
    };
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      res0 = res;
      res.on('data', (c) => { chunks.push(c); onData?.(c, req, res); });
      res.on('aborted', () => done(new Error('aborted')));
      res.on('error', (e) => done(e));
      res.on('end', () => done(null));
      res.on('close', () => done(new Error('closed')));
    });
    req.setTimeout(20_000, () => req.destroy(new Error('client timeout')));
    req.on('error', (e) => done(e));
    req.on('close', () => setTimeout(() => done(new Error('request closed')), 50));
    req.end(body);
  });
}

async function assertStillServes(proxy, ledger, what) {
  assert.ok(proxy.alive(), `proxy died (${what})\n${proxy.describe()}`);
  const res = await postJson(`${proxy.url}/v1/chat/completions`,
    { model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'still there?' }] },
    { ...OA_HEADERS, 'x-test-mode': 'good' });
  assert.equal(res.status, 200, `after ${what}: ${res.text}`);
  const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
  // 100 × 0.15 + 10 × 0.60 = 15 + 6 = 21 USD per 1M → 0.000021 USD
  assertCost(e, '0.000021', [[100, '0.15'], [10, '0.60']], `after ${what}`);
}

const GOOD = (res) => json(res, 200, chatCompletion({ usage: chatUsage({ prompt: 100, completion: 10 }) }));

test('200 with malformed JSON: client gets the bytes unchanged, ledger estimated, warning on stderr, proxy alive', async (t) => {
  const broken = '{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, this is a reply"}}],"usage":{"prompt_tokens":12,"completion';
  const { proxy, ledger } = await setup(t, async (req, res) => {
    if (req.headers['x-test-mode'] === 'good') return GOOD(res);
    json(res, 200, broken);
  });
  const reqBody = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'a'.repeat(400) }] });
  const res = await tolerantRequest(`${proxy.url}/v1/chat/completions`,
    { headers: { ...OA_HEADERS, 'content-type': 'application/json' }, body: reqBody });
  assert.equal(res.error, null, `client request failed: ${res.error}`);
  assert.equal(res.status, 200);
  assert.equal(res.body.toString('utf8'), broken, 'the malformed body must reach the client unchanged');
  const id = res.headers['x-spendgate-request-id'];
  const e = await waitForEntry(ledger, id);
  assertLedgerShape(e);
  assertFields(e, { status: 200, stream: false, usage_source: 'estimated' });
  // estimate: input ≈ ceil(request body bytes / 4) (docs/metering.md §3)
  assert.equal(e.json.input_tokens, Math.ceil(Buffer.byteLength(reqBody) / 4), e.raw);
  assert.ok(e.json.output_tokens > 0, `malformed: output estimated from the body size ${e.raw}`);
  assertCost(e, miniCost(e.json), undefined, 'cost from the estimated counts');
  if (res.headers['x-spendgate-cost-usd'] !== undefined) {
    assert.equal(res.headers['x-spendgate-cost-usd'], miniCost(e.json), 'cost header agrees with the ledger');
  }
  await sleep(50);
  assert.match(proxy.stderr, new RegExp(`${id}.*malformed|malformed.*${id}`), `no warning naming the request on stderr:\n${proxy.stderr.slice(-3000)}`);
  await assertStillServes(proxy, ledger, 'malformed JSON');
  await proxy.stopClean();
});

test('malformed answer to a request without max_tokens: the estimate stops at the model\'s max_output_tokens, as reserved', async (t) => {
  // 800 bytes of broken JSON would be estimated at 200 output tokens; the model can bill at most
  // 20 (its catalog max_output_tokens), which is also what admission reserved.
  const broken = '{"id":"chatcmpl-1","choices":[{"message":{"content":"' + 'x'.repeat(800);
  const { proxy, ledger } = await setup(t, async (req, res) => json(res, 200, broken), {
    extra: { pricing: { models: { 'tiny-out': { input: 1, output: 2, max_output_tokens: 20 } } } },
  });
  const reqBody = JSON.stringify({ model: 'tiny-out', messages: [{ role: 'user', content: 'hi' }] });
  const res = await tolerantRequest(`${proxy.url}/v1/chat/completions`,
    { headers: { ...OA_HEADERS, 'content-type': 'application/json' }, body: reqBody });
  assert.equal(res.status, 200);
  const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
  assertFields(e, { usage_source: 'estimated', output_tokens: 20 });
  await proxy.stopClean();
});

test('malformed answer for a model no price names (unknown_model: allow): the estimate is not capped at 0', async (t) => {
  // An unpriced model's worst case has no output bound: the estimate stands as it was.
  const broken = '{"id":"chatcmpl-1","choices":[{"message":{"content":"' + 'x'.repeat(800);
  const { proxy, ledger } = await setup(t, async (req, res) => json(res, 200, broken), {
    extra: { pricing: { unknown_model: 'allow' } },
  });
  const reqBody = JSON.stringify({ model: 'mystery-model', messages: [{ role: 'user', content: 'hi' }] });
  const res = await tolerantRequest(`${proxy.url}/v1/chat/completions`,
    { headers: { ...OA_HEADERS, 'content-type': 'application/json' }, body: reqBody });
  assert.equal(res.status, 200);
  const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
  assertFields(e, { usage_source: 'estimated', output_tokens: Math.ceil(Buffer.byteLength(broken) / 4) });
  await proxy.stopClean();
});

test('200 without usage (non-streamed): estimated, cost header = ledger cost', async (t) => {
  const { proxy, ledger } = await setup(t, async (req, res) => json(res, 200, chatCompletion({ content: 'x'.repeat(80) })));
  const reqBody = { model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'hello world' }] };
  const res = await postJson(`${proxy.url}/v1/chat/completions`, reqBody, OA_HEADERS);
  assert.equal(res.status, 200);
  assert.equal(res.json().usage, undefined);
  const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
  assertLedgerShape(e);
  assertFields(e, { usage_source: 'estimated', status: 200 });
  assert.equal(e.json.input_tokens, Math.ceil(Buffer.byteLength(JSON.stringify(reqBody)) / 4), e.raw);
  assert.ok(e.json.output_tokens >= 20, `output from 80 generated characters ≈ 20 tokens: ${e.raw}`);
  assertCost(e, miniCost(e.json));
  assert.equal(res.headers['x-spendgate-cost-usd'], miniCost(e.json));
  await proxy.stopClean();
});

for (const [name, usage] of Object.entries({
  'negative prompt_tokens (-5)': { prompt_tokens: -5, completion_tokens: 10, total_tokens: 5 },
  'prompt_tokens 1e12': { prompt_tokens: 1e12, completion_tokens: 10, total_tokens: 1e12 + 10 },
  'completion_tokens 1e12 written as an exponent': '{"prompt_tokens":10,"completion_tokens":1e12,"total_tokens":1000000000010}',
  'non-integer count (12.5)': { prompt_tokens: 12.5, completion_tokens: 10, total_tokens: 22.5 },
  'cached_tokens above prompt_tokens': { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20, prompt_tokens_details: { cached_tokens: 5000 } },
  'reasoning_tokens above completion_tokens': { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20, completion_tokens_details: { reasoning_tokens: 900 } },
  'usage counts as strings': { prompt_tokens: '10', completion_tokens: '10', total_tokens: '20' },
})) {
  test(`absurd usage (${name}): estimated, not a crash, not billed as reported`, async (t) => {
    const { proxy, ledger } = await setup(t, async (req, res) => {
      if (req.headers['x-test-mode'] === 'good') return GOOD(res);
      const body = JSON.stringify(chatCompletion({ usage: '__USAGE__' })).replace('"__USAGE__"', typeof usage === 'string' ? usage : JSON.stringify(usage));
      json(res, 200, body);
    });
    const res = await postJson(`${proxy.url}/v1/chat/completions`,
      { model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }, OA_HEADERS);
    assert.equal(res.status, 200);
    const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
    assertLedgerShape(e, name);
    assertFields(e, { usage_source: 'estimated' }, name);
    assert.ok(e.json.input_tokens < 1e9 && e.json.output_tokens < 1e9, `absurd count reached the ledger: ${e.raw}`);
    assert.ok(e.json.cost_usd < 1, `absurd cost: ${e.raw}`);
    assertCost(e, miniCost(e.json), undefined, name);
    await assertStillServes(proxy, ledger, name);
    await proxy.stopClean();
  });
}

// A held (non-streamed, metered) answer has sent the client nothing when the upstream fails: the
// client gets the proxy's error instead of a closed socket, and the ledger the same status.
const CUT_40 = '{"id":"chatcmpl-1","object":"chat.comple'; // 40 bytes of a 500-byte body

async function startCutAnswer(res) {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': 500 });
  await writeAsync(res, CUT_40);
}

test('held answer cut by an upstream reset: 502 in the caller\'s format, ledger 502 estimated, output capped at max_tokens', async (t) => {
  const { proxy, ledger } = await setup(t, async (req, res) => {
    if (req.headers['x-test-mode'] === 'good') return GOOD(res);
    await startCutAnswer(res);
    await sleep(50);
    res.socket.resetAndDestroy?.() ?? res.socket.destroy();
  });
  const reqBody = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  const res = await tolerantRequest(`${proxy.url}/v1/chat/completions`,
    { headers: { ...OA_HEADERS, 'content-type': 'application/json' }, body: reqBody });
  assert.equal(res.error, null, `the client must get an answer, not a closed socket: ${res.error}`);
  const body = assertProxyError(res, 'openai', 502, 'held answer cut');
  assert.match(body.error.message, /mid-answer/);
  const id = res.headers['x-spendgate-request-id'];
  const e = await waitForEntry(ledger, id);
  assertLedgerShape(e);
  assertFields(e, { status: 502, stream: false, usage_source: 'estimated' });
  assert.equal(e.json.input_tokens, Math.ceil(Buffer.byteLength(reqBody) / 4), e.raw);
  // 40 bytes of body ≈ 10 tokens, but the provider cannot bill more than max_tokens.
  assert.equal(e.json.output_tokens, 5, e.raw);
  assertCost(e, miniCost(e.json));
  await sleep(50);
  assert.match(proxy.stderr + proxy.stdout, new RegExp(`${id}.*status[=":]+502`), 'access log says 502');

  // Each format gets the error in its own shape.
  for (const format of ['anthropic', 'gemini']) {
    const r = await tolerantRequest(`${proxy.url}${SAMPLE[format].path}`,
      { headers: { ...SAMPLE[format].headers, 'content-type': 'application/json' }, body: JSON.stringify(SAMPLE[format].body) });
    assert.equal(r.error, null, `${format}: ${r.error}`);
    assertProxyError(r, format, 502, format);
    assertFields(await waitForEntry(ledger, r.headers['x-spendgate-request-id']), { status: 502, usage_source: 'estimated' }, format);
  }
  await assertStillServes(proxy, ledger, 'held answer cut');
  await proxy.stopClean();
});

test('held answer the proxy cannot decode (gzip that is not gzip): 502 in the caller\'s format, ledger 502 estimated', async (t) => {
  const { proxy, ledger } = await setup(t, async (req, res) => {
    if (req.headers['x-test-mode'] === 'good') return GOOD(res);
    const garbage = Buffer.from('this is not a gzip stream at all, not even its magic bytes');
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': garbage.length });
    res.end(garbage);
  });
  const reqBody = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  const res = await tolerantRequest(`${proxy.url}/v1/chat/completions`,
    { headers: { ...OA_HEADERS, 'content-type': 'application/json' }, body: reqBody });
  assert.equal(res.error, null, `the client must get an answer, not a closed socket: ${res.error}`);
  const body = assertProxyError(res, 'openai', 502, 'undecodable held answer');
  assert.match(body.error.message, /cannot decode/);
  const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
  assertLedgerShape(e);
  assertFields(e, { status: 502, stream: false, usage_source: 'estimated' });
  await assertStillServes(proxy, ledger, 'undecodable held answer');
  await proxy.stopClean();
});

test('held answer stalled until request_timeout: 504 after about request_timeout, ledger 504 estimated', async (t) => {
  const { proxy, ledger } = await setup(t, async (req, res) => {
    if (req.headers['x-test-mode'] === 'good') return GOOD(res);
    await startCutAnswer(res); // and nothing more
  }, { server: { first_byte_timeout: '1s', request_timeout: '2s' } });
  const reqBody = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  const t0 = performance.now();
  const res = await tolerantRequest(`${proxy.url}/v1/chat/completions`,
    { headers: { ...OA_HEADERS, 'content-type': 'application/json' }, body: reqBody });
  const elapsed = performance.now() - t0;
  assert.equal(res.error, null, `the client must get an answer, not a closed socket: ${res.error}`);
  assertProxyError(res, 'openai', 504, 'held answer stalled');
  assert.ok(elapsed >= 1800 && elapsed < 10_000, `504 after ${elapsed.toFixed(0)} ms, request_timeout 2s`);
  const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
  assertLedgerShape(e);
  assertFields(e, { status: 504, stream: false, usage_source: 'estimated' });
  assert.equal(e.json.output_tokens, 5, e.raw);
  assertCost(e, miniCost(e.json));
  // The stall was the upstream's time, not the proxy's (audit 17 F3: upstream_ms 0, the whole
  // wait in spendgate_overhead_seconds).
  assert.ok(e.json.upstream_ms >= 1800, `upstream_ms ${e.json.upstream_ms}: ${e.raw}`);
  assert.ok(e.json.latency_ms - e.json.upstream_ms < 1000, e.raw);
  await assertStillServes(proxy, ledger, 'held answer stalled');
  await proxy.stopClean();
});

test('truncated OpenAI stream (upstream resets mid-stream): one ledger line, estimated', async (t) => {
  const { up, proxy, ledger } = await setup(t, async (req, res, rec) => {
    if (req.headers['x-test-mode'] === 'good') return GOOD(res);
    const frames = openaiChatStreamFrames({ includeUsage: parseBody(rec).stream_options?.include_usage === true, usage: chatUsage({ prompt: 10, completion: 10 }), contents: ['0123456789'.repeat(4), 'abcdefghij'.repeat(4)] });
    startSse(res);
    for (const f of frames.slice(0, 3)) await writeAsync(res, f); // role chunk + two content chunks
    await sleep(50);
    res.socket.resetAndDestroy?.() ?? res.socket.destroy();
  });
  const reqBody = JSON.stringify({ model: 'gpt-4o-mini', stream: true, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
  const res = await tolerantRequest(`${proxy.url}/v1/chat/completions`,
    { headers: { ...OA_HEADERS, 'content-type': 'application/json' }, body: reqBody });
  assert.equal(res.status, 200);
  assert.ok(res.body.includes('0123456789'), 'the chunks sent before the reset reach the client');
  assert.ok(!res.body.includes('[DONE]'), 'the proxy must not make up an end');
  assert.ok(res.error, 'the client must see the stream end abnormally (not a clean end)');
  const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
  assertLedgerShape(e);
  assertFields(e, { stream: true, usage_source: 'estimated' });
  const inj = Buffer.byteLength(up.requests[0].body);
  assert.ok([Math.ceil(Buffer.byteLength(reqBody) / 4), Math.ceil(inj / 4)].includes(e.json.input_tokens), `input estimate ${e.raw}`);
  assert.ok(e.json.output_tokens >= 20, `80 generated characters seen ≈ 20 output tokens: ${e.raw}`);
  assertCost(e, miniCost(e.json));
  await assertStillServes(proxy, ledger, 'truncated stream');
  await proxy.stopClean();
  assert.equal(readLedger(ledger).length, 2);
});

test('truncated Anthropic stream after message_start: estimated, input from message_start', async (t) => {
  const { proxy, ledger } = await setup(t, async (req, res) => {
    if (req.headers['x-test-mode'] === 'good') return GOOD(res);
    startSse(res);
    await writeAsync(res, sseFrame({ event: 'message_start', data: { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-3-5-haiku-20241022', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 300, cache_creation_input_tokens: 100, cache_read_input_tokens: 200, output_tokens: 1 } } } }));
    await writeAsync(res, sseFrame({ event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } }));
    await writeAsync(res, sseFrame({ event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'x'.repeat(40) } } }));
    await sleep(50);
    res.socket.resetAndDestroy?.() ?? res.socket.destroy();
  });
  const res = await tolerantRequest(`${proxy.url}/v1/messages`, {
    headers: { ...AN_HEADERS, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-3-5-haiku-20241022', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 200);
  const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
  assertLedgerShape(e);
  assertFields(e, { provider: 'anthropic', stream: true, usage_source: 'estimated', input_tokens: 600, cached_input_tokens: 200, cache_write_tokens: 100 });
  assert.ok(e.json.output_tokens >= 10, `40 characters seen ≈ 10 output tokens (≥ message_start's 1): ${e.raw}`);
  assertCost(e, haikuCost(e.json));
  await assertStillServes(proxy, ledger, 'truncated anthropic stream');
  await proxy.stopClean();
});

test('client disconnects mid-stream (Anthropic, after message_start): one ledger line, 499, estimated, input from message_start', async (t) => {
  let upstreamClosed;
  const closed = new Promise((r) => { upstreamClosed = r; });
  const { proxy, ledger } = await setup(t, async (req, res) => {
    if (req.headers['x-test-mode'] === 'good') return GOOD(res);
    res.on('close', () => upstreamClosed());
    startSse(res);
    await writeAsync(res, sseFrame({ event: 'message_start', data: { type: 'message_start', message: { id: 'msg_2', type: 'message', role: 'assistant', model: 'claude-3-5-haiku-20241022', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1234, cache_creation_input_tokens: 0, cache_read_input_tokens: 4000, output_tokens: 2 } } } }));
    // keep generating slowly until the proxy hangs up
    for (let i = 0; i < 100 && !res.destroyed && res.writable; i++) {
      await sleep(50);
      try { await writeAsync(res, sseFrame({ event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'word ' } } })); } catch { break; }
    }
    res.end();
  });
  let requestId;
  const res = await tolerantRequest(`${proxy.url}/v1/messages`, {
    headers: { ...AN_HEADERS, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-3-5-haiku-20241022', max_tokens: 1000, stream: true, messages: [{ role: 'user', content: 'write a lot' }] }),
    onData: (chunk, req, r) => {
      requestId = r.headers['x-spendgate-request-id'];
      if (Buffer.concat([chunk]).includes('message_start')) req.destroy();
    },
  });
  assert.ok(requestId, `no response head before the disconnect: ${res.error}`);
  await Promise.race([closed, sleep(5000)]);
  const e = await waitForEntry(ledger, requestId);
  assertLedgerShape(e);
  assertFields(e, { status: 499, stream: true, usage_source: 'estimated', input_tokens: 5234, cached_input_tokens: 4000, cache_write_tokens: 0 });
  assert.ok(e.json.output_tokens >= 2, `at least message_start's provisional output: ${e.raw}`);
  assertCost(e, haikuCost(e.json));
  await assertStillServes(proxy, ledger, 'client disconnect');
  await proxy.stopClean();
  assert.equal(readLedger(ledger).length, 2);
});

test('client disconnects mid-stream (OpenAI chat, usage injected): one ledger line, 499, estimated', async (t) => {
  const { proxy, ledger } = await setup(t, async (req, res, rec) => {
    if (req.headers['x-test-mode'] === 'good') return GOOD(res);
    const frames = openaiChatStreamFrames({ includeUsage: parseBody(rec).stream_options?.include_usage === true, usage: chatUsage({ prompt: 10, completion: 10 }) });
    startSse(res);
    await writeAsync(res, frames[0]);
    for (let i = 0; i < 100 && !res.destroyed; i++) {
      await sleep(50);
      try { await writeAsync(res, frames[1]); } catch { break; }
    }
    res.end();
  });
  let requestId;
  await tolerantRequest(`${proxy.url}/v1/chat/completions`, {
    headers: { ...OA_HEADERS, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }] }),
    onData: (chunk, req, r) => { requestId = r.headers['x-spendgate-request-id']; req.destroy(); },
  });
  assert.ok(requestId);
  const e = await waitForEntry(ledger, requestId, { timeout: 8000 });
  assertLedgerShape(e);
  assertFields(e, { status: 499, stream: true, usage_source: 'estimated' });
  assert.ok(e.json.input_tokens > 0, e.raw);
  assertCost(e, miniCost(e.json));
  await assertStillServes(proxy, ledger, 'client disconnect (openai)');
  await proxy.stopClean();
});

test('Anthropic event: error inside a 200 stream: relayed, ledger estimated with the message_start counts', async (t) => {
  const errorFrame = sseFrame({ event: 'error', data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
  const { proxy, ledger } = await setup(t, async (req, res) => {
    if (req.headers['x-test-mode'] === 'good') return GOOD(res);
    startSse(res);
    await writeAsync(res, sseFrame({ event: 'message_start', data: { type: 'message_start', message: { id: 'msg_3', type: 'message', role: 'assistant', model: 'claude-3-5-haiku-20241022', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 800, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 } } } }));
    await writeAsync(res, sseFrame({ event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'y'.repeat(20) } } }));
    await writeAsync(res, errorFrame);
    res.end();
  });
  const res = await tolerantRequest(`${proxy.url}/v1/messages`, {
    headers: { ...AN_HEADERS, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-3-5-haiku-20241022', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.error, null);
  assert.equal(res.status, 200);
  assert.ok(res.body.toString().endsWith(errorFrame), 'the error event reaches the client');
  const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
  assertLedgerShape(e);
  assertFields(e, { status: 200, stream: true, usage_source: 'estimated', input_tokens: 800 });
  assert.ok(e.json.output_tokens >= 5, `20 characters seen ≈ 5 tokens: ${e.raw}`);
  assertCost(e, haikuCost(e.json));
  await assertStillServes(proxy, ledger, 'error event');
  await proxy.stopClean();
});

test('OpenAI Responses stream ending in response.failed / event: error: one line each, no crash', async (t) => {
  const { proxy, ledger } = await setup(t, async (req, res) => {
    if (req.headers['x-test-mode'] === 'good') return GOOD(res);
    startSse(res);
    const base = { id: 'resp_1', object: 'response', created_at: 1741476542, model: 'gpt-4o-mini-2024-07-18', output: [] };
    await writeAsync(res, sseFrame({ event: 'response.created', data: { type: 'response.created', sequence_number: 0, response: { ...base, status: 'in_progress', usage: null } } }));
    await writeAsync(res, sseFrame({ event: 'response.output_text.delta', data: { type: 'response.output_text.delta', sequence_number: 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'z'.repeat(40) } }));
    if (req.headers['x-test-mode'] === 'failed') {
      await writeAsync(res, sseFrame({ event: 'response.failed', data: { type: 'response.failed', sequence_number: 2, response: { ...base, status: 'failed', error: { code: 'server_error', message: 'boom' }, usage: { input_tokens: 70, input_tokens_details: { cached_tokens: 0 }, output_tokens: 12, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 82 } } } }));
    } else {
      await writeAsync(res, sseFrame({ event: 'error', data: { type: 'error', sequence_number: 2, code: 'server_error', message: 'The server had an error', param: null } }));
    }
    res.end();
  });
  for (const mode of ['failed', 'error']) {
    const res = await tolerantRequest(`${proxy.url}/v1/responses`, {
      headers: { ...OA_HEADERS, 'content-type': 'application/json', 'x-test-mode': mode },
      body: JSON.stringify({ model: 'gpt-4o-mini', input: 'hi', stream: true }),
    });
    assert.equal(res.status, 200, mode);
    const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
    assertLedgerShape(e, mode);
    assert.ok(e.json.output_tokens >= 10, `${mode}: 40 characters were generated: ${e.raw}`);
    if (mode === 'failed') {
      // response.failed carries usage: 70 × 0.15 + 12 × 0.60 = 10.5 + 7.2 = 17.7 USD per 1M → 0.0000177 USD,
      // unless the proxy treats the output it saw (≈10 tokens) as a floor; either way the counts decide the cost.
      assert.equal(e.json.input_tokens, 70, e.raw);
    } else {
      assertFields(e, { usage_source: 'estimated' }, mode);
    }
    assertCost(e, miniCost(e.json), undefined, mode);
  }
  await assertStillServes(proxy, ledger, 'responses failures');
  await proxy.stopClean();
  await waitForLedger(ledger, 3, { settleMs: 0 });
});
