// Metering end to end: every forwarded call gets one ledger line whose cost equals the cost computed
// BY HAND here from config/pricing.yaml (USD per 1M tokens), to the picodollar; non-streamed
// answers carry the same cost in x-spendgate-cost-usd.
//
// Rates used (config/pricing.yaml, USD per 1M tokens):
//   gpt-4o-mini         input 0.15  cached 0.075  output 0.60
//   gpt-4o              input 2.50  cached 1.25   output 10.00
//   gpt-4o-2024-05-13   input 5.00  (cached = input) output 15.00
//   o3                  input 2.00  cached 0.50   output 8.00
//   o4-mini             input 1.10  cached 0.275  output 4.40
//   text-embedding-3-small input 0.02
//   claude-sonnet-4-5   input 3.00  cached 0.30  5m write 3.75  1h write 6.00  output 15.00
//   claude-haiku-4-5    input 1.00  cached 0.10  5m write 1.25  1h write 2.00  output 5.00
//   gemini-2.5-flash    input 0.30  cached 0.03   output 2.50 (thoughts billed as output)
//   gemini-2.5-pro      input 1.25  cached 0.125  output 10.00
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI, { AzureOpenAI } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json, startSse, sseFrame, writeAsync } from './lib/fake_upstream.mjs';
import { request, postJson } from './lib/http.mjs';
import {
  ledgerPathOf, waitForEntry, readLedger, assertCost, assertCostHeader, assertLedgerShape, assertFields,
  keyFingerprint,
} from './lib/ledger.mjs';
import { openaiChatStreamFrames, chatUsage, chatCompletion, writeInPieces } from './lib/openai_stream.mjs';

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
const openaiClient = (proxy, apiKey = 'sk-test') => new OpenAI({ apiKey, baseURL: `${proxy.url}/v1`, maxRetries: 0, timeout: 30_000 });
const anthropicClient = (proxy, apiKey = 'sk-ant-test') => new Anthropic({ apiKey, baseURL: proxy.url, maxRetries: 0, timeout: 30_000 });
const rid = (response) => response.headers.get('x-spendgate-request-id');

async function collect(stream) {
  const out = [];
  for await (const x of stream) out.push(x);
  return out;
}

/** Streams a raw response: resolves { status, headers, body (Buffer) }. */
function rawStream(url, { method = 'POST', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

// ----------------------------------------------------------------------------------- OpenAI chat

test('openai SDK chat (plain) with cached tokens: ledger + x-spendgate-cost-usd exact; reasoning model too', async (t) => {
  const { up, proxy, ledger } = await setup(t, async (req, res, rec) => {
    const body = parseBody(rec);
    if (body.model === 'o3') {
      return json(res, 200, chatCompletion({ model: 'o3-2025-04-16', usage: chatUsage({ prompt: 500, completion: 1500, reasoning: 1200 }) }));
    }
    return json(res, 200, chatCompletion({ usage: chatUsage({ prompt: 1000, cached: 400, completion: 200 }) }));
  });
  const client = openaiClient(proxy);
  const { data, response } = await client.chat.completions
    .create({ model: 'gpt-4o-mini', max_tokens: 300, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  assert.equal(data.usage.prompt_tokens_details.cached_tokens, 400, 'the client sees the upstream usage unchanged');
  // (1000 - 400) × 0.15 + 400 × 0.075 + 200 × 0.60 = 90 + 30 + 120 = 240 USD per 1M → 0.00024 USD
  const expected = '0.00024';
  const terms = [[600, '0.15'], [400, '0.075'], [200, '0.60']];
  assertCostHeader(response.headers.get('x-spendgate-cost-usd'), expected);
  const e = await waitForEntry(ledger, rid(response));
  assertLedgerShape(e);
  assertFields(e, {
    provider: 'openai', model: 'gpt-4o-mini-2024-07-18', requested_model: 'gpt-4o-mini', key: keyFingerprint('sk-test'),
    status: 200, stream: false, input_tokens: 1000, cached_input_tokens: 400, cache_write_tokens: 0,
    output_tokens: 200, reasoning_tokens: 0, usage_source: 'provider', price_source: 'catalog:exact-request',
  });
  assertCost(e, expected, terms);

  // o3: reasoning tokens are inside completion_tokens and billed once, at the output rate:
  // 500 × 2.00 + 1500 × 8.00 = 1000 + 12000 = 13000 USD per 1M → 0.013 USD
  const r2 = await client.chat.completions
    .create({ model: 'o3', max_completion_tokens: 2000, messages: [{ role: 'user', content: 'think' }] }).withResponse();
  assertCostHeader(r2.response.headers.get('x-spendgate-cost-usd'), '0.013');
  const e2 = await waitForEntry(ledger, rid(r2.response));
  assertFields(e2, { model: 'o3-2025-04-16', requested_model: 'o3', input_tokens: 500, output_tokens: 1500, reasoning_tokens: 1200, usage_source: 'provider' });
  assertCost(e2, '0.013', [[500, '2.00'], [1500, '8.00']]);
  assert.equal(up.requests.length, 2);
  await proxy.stopClean();
  assert.equal(readLedger(ledger).length, 2, 'exactly one line per request after shutdown');
});

const STREAM_USAGE = chatUsage({ prompt: 1200, cached: 1024, completion: 80 });
// (1200 - 1024) × 0.15 + 1024 × 0.075 + 80 × 0.60 = 26.4 + 76.8 + 48 = 151.2 USD per 1M → 0.0001512 USD
const STREAM_COST = '0.0001512';
const STREAM_TERMS = [[176, '0.15'], [1024, '0.075'], [80, '0.60']];

/** Behaves like api.openai.com for chat streams: usage chunk + "usage":null only with include_usage. */
function openaiLikeStreamHandler(opts = {}) {
  return async (req, res, rec) => {
    const body = parseBody(rec);
    const includeUsage = body.stream_options?.include_usage === true;
    startSse(res);
    const frames = openaiChatStreamFrames({ includeUsage, usage: STREAM_USAGE, ...opts });
    if (opts.pieces) await writeInPieces(res, frames.join(''), opts.pieces);
    else for (const f of frames) await writeAsync(res, f);
    res.end();
  };
}

test('openai SDK chat stream, include_usage set by the client: client gets the usage chunk, ledger exact', async (t) => {
  const { up, proxy, ledger } = await setup(t, openaiLikeStreamHandler());
  const { data: stream, response } = await openaiClient(proxy).chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 100, stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'hi' }],
  }).withResponse();
  const chunks = await collect(stream);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, [], 'the usage chunk the client asked for must arrive');
  assert.deepEqual(last.usage, STREAM_USAGE);
  assert.equal(response.headers.get('x-spendgate-cost-usd'), null, 'no cost header on a stream (its cost is known only at the end)');
  const e = await waitForEntry(ledger, rid(response));
  assertLedgerShape(e);
  assertFields(e, {
    provider: 'openai', model: 'gpt-4o-mini-2024-07-18', requested_model: 'gpt-4o-mini', status: 200, stream: true,
    input_tokens: 1200, cached_input_tokens: 1024, output_tokens: 80, usage_source: 'provider',
  });
  assertCost(e, STREAM_COST, STREAM_TERMS);
  assert.equal(parseBody(up.requests[0]).stream_options.include_usage, true);
  await proxy.stopClean();
});

test('openai SDK chat stream without include_usage: client sees no usage at all, ledger still exact', async (t) => {
  const { up, proxy, ledger } = await setup(t, openaiLikeStreamHandler());
  const req = { model: 'gpt-4o-mini', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] };
  const { data: stream, response } = await openaiClient(proxy).chat.completions.create(req).withResponse();
  const chunks = await collect(stream);
  assert.ok(chunks.length > 0);
  assert.ok(chunks.every((c) => c.choices.length === 1), `client got a chunk without choices: ${JSON.stringify(chunks.at(-1))}`);
  assert.ok(chunks.every((c) => !('usage' in c)), `client got a usage member it did not ask for: ${JSON.stringify(chunks.find((c) => 'usage' in c))}`);
  assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), 'Hello! The text "usage":null, {"choices":[]} is just text.');
  const sent = parseBody(up.requests[0]);
  assert.equal(sent.stream_options?.include_usage, true, 'the proxy asks the upstream for usage');
  const e = await waitForEntry(ledger, rid(response));
  assertFields(e, { stream: true, input_tokens: 1200, cached_input_tokens: 1024, output_tokens: 80, usage_source: 'provider' });
  assertCost(e, STREAM_COST, STREAM_TERMS);
  await proxy.stopClean();
});

for (const [name, opts] of Object.entries({
  'standard layout, whole frames': {},
  'standard layout, 7-byte pieces': { pieces: { size: 7 } },
  'obfuscation member after usage, 5-byte pieces': { layout: 'obfuscation', pieces: { size: 5 } },
  'CRLF framing, 3-byte pieces': { eol: '\r\n', pieces: { size: 3, pauseEvery: 8 } },
  'usage member before the others (comma after it)': { layout: 'usage-first' },
})) {
  test(`chat stream without include_usage is byte-for-byte what the upstream sends without it (${name})`, async (t) => {
    const { up, proxy, ledger } = await setup(t, openaiLikeStreamHandler(opts));
    const body = JSON.stringify({ model: 'gpt-4o-mini', stream: true, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
    const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-test' };
    const direct = await rawStream(`${up.url}/v1/chat/completions`, { headers, body });
    const viaProxy = await rawStream(`${proxy.url}/v1/chat/completions`, { headers, body });
    assert.equal(parseBody(up.requests[0]).stream_options, undefined, 'direct request had no include_usage');
    assert.equal(parseBody(up.requests[1]).stream_options?.include_usage, true, 'proxy must inject include_usage');
    assert.ok(direct.body.includes('data: [DONE]'));
    assert.ok(!direct.body.includes('"usage"'), 'sanity: the direct stream has no usage');
    assert.equal(viaProxy.status, 200);
    assert.equal(viaProxy.body.toString('utf8'), direct.body.toString('utf8'),
      'client stream must be byte-for-byte the stream without include_usage');
    assert.ok(viaProxy.body.equals(direct.body));
    const e = await waitForEntry(ledger, viaProxy.headers['x-spendgate-request-id']);
    assertFields(e, { stream: true, input_tokens: 1200, cached_input_tokens: 1024, output_tokens: 80, usage_source: 'provider' });
    assertCost(e, STREAM_COST, STREAM_TERMS);
    await proxy.stopClean();
  });
}

// ----------------------------------------------------------------------------------- Responses API

test('openai SDK responses.create({stream:true}): usage from response.completed, exact cost', async (t) => {
  const usage = { input_tokens: 3000, input_tokens_details: { cached_tokens: 2048 }, output_tokens: 500, output_tokens_details: { reasoning_tokens: 384 }, total_tokens: 3500 };
  const { up, proxy, ledger } = await setup(t, async (req, res) => {
    const base = { id: 'resp_67ccd2bed1ec8190', object: 'response', created_at: 1741476542, model: 'o4-mini-2025-04-16', output: [], service_tier: 'default' };
    const item = { id: 'msg_67ccd2bf17f0', type: 'message', status: 'in_progress', role: 'assistant', content: [] };
    const events = [
      { type: 'response.created', response: { ...base, status: 'in_progress', usage: null } },
      { type: 'response.in_progress', response: { ...base, status: 'in_progress', usage: null } },
      { type: 'response.output_item.added', output_index: 0, item },
      { type: 'response.content_part.added', item_id: item.id, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } },
      { type: 'response.output_text.delta', item_id: item.id, output_index: 0, content_index: 0, delta: 'Hi' },
      { type: 'response.output_text.delta', item_id: item.id, output_index: 0, content_index: 0, delta: ' there' },
      { type: 'response.output_text.done', item_id: item.id, output_index: 0, content_index: 0, text: 'Hi there' },
      { type: 'response.completed', response: { ...base, status: 'completed', output: [{ ...item, status: 'completed', content: [{ type: 'output_text', text: 'Hi there', annotations: [] }] }], usage } },
    ].map((e, i) => ({ ...e, sequence_number: i }));
    startSse(res);
    for (const e of events) await writeAsync(res, sseFrame({ event: e.type, data: e }));
    res.end();
  });
  const { data: stream, response } = await openaiClient(proxy).responses
    .create({ model: 'o4-mini', input: 'Say hi', stream: true }).withResponse();
  const events = await collect(stream);
  assert.equal(events.at(-1).type, 'response.completed');
  assert.deepEqual(events.at(-1).response.usage, usage);
  assert.equal(parseBody(up.requests[0]).stream_options, undefined, 'nothing is injected into /v1/responses');
  // (3000 - 2048) × 1.10 + 2048 × 0.275 + 500 × 4.40 = 1047.2 + 563.2 + 2200 = 3810.4 USD per 1M → 0.0038104 USD
  const e = await waitForEntry(ledger, rid(response));
  assertLedgerShape(e);
  assertFields(e, {
    provider: 'openai', model: 'o4-mini-2025-04-16', requested_model: 'o4-mini', stream: true, status: 200,
    input_tokens: 3000, cached_input_tokens: 2048, output_tokens: 500, reasoning_tokens: 384, usage_source: 'provider',
  });
  assertCost(e, '0.0038104', [[952, '1.10'], [2048, '0.275'], [500, '4.40']]);
  await proxy.stopClean();
});

test('openai SDK embeddings: prompt tokens only, exact cost and header', async (t) => {
  const { proxy, ledger } = await setup(t, async (req, res, rec) => {
    const body = parseBody(rec);
    const vec = [0.0023064255, -0.009327292, 0.015797347];
    const embedding = body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vec).buffer).toString('base64') : vec;
    json(res, 200, { object: 'list', data: [{ object: 'embedding', index: 0, embedding }], model: 'text-embedding-3-small', usage: { prompt_tokens: 12345, total_tokens: 12345 } });
  });
  const { data, response } = await openaiClient(proxy).embeddings
    .create({ model: 'text-embedding-3-small', input: 'The food was delicious' }).withResponse();
  assert.equal(data.data[0].embedding.length, 3);
  // 12345 × 0.02 = 246.9 USD per 1M → 0.0002469 USD
  assertCostHeader(response.headers.get('x-spendgate-cost-usd'), '0.0002469');
  const e = await waitForEntry(ledger, rid(response));
  assertLedgerShape(e);
  assertFields(e, { model: 'text-embedding-3-small', input_tokens: 12345, output_tokens: 0, stream: false, usage_source: 'provider' });
  assertCost(e, '0.0002469', [[12345, '0.02']]);
  await proxy.stopClean();
});

// ----------------------------------------------------------------------------------- Anthropic

test('anthropic SDK messages (plain) with cache reads and 5m + 1h cache writes: exact cost', async (t) => {
  const usage = {
    input_tokens: 100, cache_creation_input_tokens: 1500, cache_read_input_tokens: 2000,
    cache_creation: { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 1000 },
    output_tokens: 300, service_tier: 'standard',
  };
  const { proxy, ledger } = await setup(t, async (req, res) => json(res, 200, {
    id: 'msg_01XFDUDYJgAACzvnptvVoYEL', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929',
    content: [{ type: 'text', text: 'Hello!' }], stop_reason: 'end_turn', stop_sequence: null, usage,
  }, { 'request-id': 'req_011Anthropic' }));
  const { data, response } = await anthropicClient(proxy).messages
    .create({ model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'Hello' }] }).withResponse();
  assert.deepEqual(data.usage, usage);
  // uncached 100 × 3.00 + reads 2000 × 0.30 + 5m writes 500 × 3.75 + 1h writes 1000 × 6.00 + output 300 × 15.00
  //   = 300 + 600 + 1875 + 6000 + 4500 = 13275 USD per 1M → 0.013275 USD
  const expected = '0.013275';
  assertCostHeader(response.headers.get('x-spendgate-cost-usd'), expected);
  const e = await waitForEntry(ledger, rid(response));
  assertLedgerShape(e);
  assertFields(e, {
    provider: 'anthropic', model: 'claude-sonnet-4-5-20250929', requested_model: 'claude-sonnet-4-5', stream: false, status: 200,
    input_tokens: 3600, // 100 + 2000 + 1500: every prompt token
    cached_input_tokens: 2000, cache_write_tokens: 1500, output_tokens: 300, usage_source: 'provider',
    price_source: 'catalog:exact-response',
  });
  assertCost(e, expected, [[100, '3.00'], [2000, '0.30'], [500, '3.75'], [1000, '6.00'], [300, '15.00']]);
  await proxy.stopClean();
});

test('anthropic SDK messages stream: message_start + cumulative message_delta (replace, never add)', async (t) => {
  const { proxy, ledger } = await setup(t, async (req, res) => {
    startSse(res);
    const ev = [
      { event: 'message_start', data: { type: 'message_start', message: { id: 'msg_01TzV8', type: 'message', role: 'assistant', model: 'claude-haiku-4-5-20251001', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 1000, output_tokens: 1, service_tier: 'standard' } } } },
      { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } },
      { event: 'ping', data: { type: 'ping' } },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: "I'm Claude" } } },
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
      // two cumulative deltas: the last one wins (40 then 150, never 190; input fields repeated, never doubled)
      { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: null, stop_sequence: null }, usage: { output_tokens: 40 } } },
      { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { input_tokens: 20, cache_read_input_tokens: 1000, output_tokens: 150 } } },
      { event: 'message_stop', data: { type: 'message_stop' } },
    ];
    for (const e of ev) await writeAsync(res, sseFrame(e));
    res.end();
  });
  const { data: stream, response } = await anthropicClient(proxy).messages
    .create({ model: 'claude-haiku-4-5', max_tokens: 500, stream: true, messages: [{ role: 'user', content: 'Hello' }] }).withResponse();
  const events = await collect(stream);
  assert.equal(events.at(-1).type, 'message_stop');
  // 20 × 1.00 + 1000 × 0.10 + 150 × 5.00 = 20 + 100 + 750 = 870 USD per 1M → 0.00087 USD
  const e = await waitForEntry(ledger, rid(response));
  assertLedgerShape(e);
  assertFields(e, {
    provider: 'anthropic', model: 'claude-haiku-4-5-20251001', requested_model: 'claude-haiku-4-5', stream: true, status: 200,
    input_tokens: 1020, cached_input_tokens: 1000, cache_write_tokens: 0, output_tokens: 150, usage_source: 'provider',
  });
  assertCost(e, '0.00087', [[20, '1.00'], [1000, '0.10'], [150, '5.00']]);
  await proxy.stopClean();
});

// ----------------------------------------------------------------------------------- Gemini

test('gemini generateContent (raw HTTP): cached subset of prompt, thoughts billed as output', async (t) => {
  const { up, proxy, ledger } = await setup(t, async (req, res) => json(res, 200, {
    candidates: [{ content: { parts: [{ text: 'Hi!' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 1200, cachedContentTokenCount: 1000, candidatesTokenCount: 300, thoughtsTokenCount: 700, totalTokenCount: 2200 },
    modelVersion: 'gemini-2.5-flash', responseId: 'B94hXk1',
  }));
  const res = await postJson(`${proxy.url}/v1beta/models/gemini-2.5-flash:generateContent`,
    { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }, { 'x-goog-api-key': 'gm-test' });
  assert.equal(res.status, 200, res.text);
  assert.equal(up.requests[0].url, '/v1beta/models/gemini-2.5-flash:generateContent');
  // (1200 - 1000) × 0.30 + 1000 × 0.03 + (300 + 700) × 2.50 = 60 + 30 + 2500 = 2590 USD per 1M → 0.00259 USD
  assertCostHeader(res.headers['x-spendgate-cost-usd'], '0.00259');
  const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
  assertLedgerShape(e);
  assertFields(e, {
    provider: 'gemini', requested_model: 'gemini-2.5-flash', stream: false, status: 200,
    input_tokens: 1200, cached_input_tokens: 1000, output_tokens: 1000, reasoning_tokens: 700, usage_source: 'provider',
  });
  assert.match(e.json.model, /gemini-2\.5-flash$/);
  assertCost(e, '0.00259', [[200, '0.30'], [1000, '0.03'], [1000, '2.50']]);
  await proxy.stopClean();
});

test('audio tokens at the audio rates: openai SDK gpt-4o-audio-preview (plain and streamed) and gemini AUDIO input', async (t) => {
  const audioUsage = {
    prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 800 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 400 },
  };
  const { proxy, ledger } = await setup(t, async (req, res, rec) => {
    const body = parseBody(rec);
    if (rec.url.includes('generateContent')) {
      return json(res, 200, {
        candidates: [{ content: { parts: [{ text: 'Heard you.' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
        usageMetadata: {
          promptTokenCount: 1200, candidatesTokenCount: 40, totalTokenCount: 1240,
          promptTokensDetails: [{ modality: 'TEXT', tokenCount: 200 }, { modality: 'AUDIO', tokenCount: 1000 }],
        },
        modelVersion: 'gemini-2.5-flash',
      });
    }
    if (body.stream) {
      startSse(res);
      const frames = openaiChatStreamFrames({ includeUsage: true, usage: audioUsage, model: 'gpt-4o-audio-preview-2025-06-03' });
      for (const f of frames) await writeAsync(res, f);
      return res.end();
    }
    const completion = chatCompletion({ model: 'gpt-4o-audio-preview-2025-06-03', usage: audioUsage });
    completion.choices[0].message.audio = { id: 'audio_1', data: 'UklGRg==', expires_at: 1741570000, transcript: 'Hello!' };
    return json(res, 200, completion);
  });
  const client = openaiClient(proxy);
  const request = {
    model: 'gpt-4o-audio-preview', modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'wav' },
    max_tokens: 600, messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } }] }],
  };
  // provider-usage.md §7.4: (1000 - 800) × 2.50 + 800 × 40.00 + (500 - 400) × 10.00 + 400 × 80.00
  //   = 500 + 32000 + 1000 + 32000 = 65500 USD per 1M → 0.0655 USD
  const terms = [[200, '2.50'], [800, '40.00'], [100, '10.00'], [400, '80.00']];
  const { data, response } = await client.chat.completions.create(request).withResponse();
  assert.equal(data.usage.prompt_tokens_details.audio_tokens, 800);
  assertCostHeader(response.headers.get('x-spendgate-cost-usd'), '0.0655');
  const e = await waitForEntry(ledger, rid(response));
  assertFields(e, { requested_model: 'gpt-4o-audio-preview', input_tokens: 1000, output_tokens: 500, usage_source: 'provider' });
  assertCost(e, '0.0655', terms);

  // Streamed, the usage chunk spendgate asked for carries the same counts.
  const { data: stream, response: streamed } = await client.chat.completions.create({ ...request, stream: true }).withResponse();
  for await (const chunk of stream) assert.equal(chunk.usage ?? undefined, undefined, 'the client did not ask for usage');
  const es = await waitForEntry(ledger, rid(streamed));
  assertFields(es, { stream: true, input_tokens: 1000, output_tokens: 500, usage_source: 'provider' });
  assertCost(es, '0.0655', terms);

  // Gemini: (1200 - 1000) × 0.30 + 1000 × 1.00 (AUDIO input) + 40 × 2.50 = 60 + 1000 + 100 = 1160 → 0.00116 USD
  const g = await postJson(`${proxy.url}/v1beta/models/gemini-2.5-flash:generateContent`,
    { contents: [{ role: 'user', parts: [{ inlineData: { mimeType: 'audio/wav', data: 'UklGRg==' } }] }] }, { 'x-goog-api-key': 'gm-test' });
  assert.equal(g.status, 200, g.text);
  assertCostHeader(g.headers['x-spendgate-cost-usd'], '0.00116');
  const eg = await waitForEntry(ledger, g.headers['x-spendgate-request-id']);
  assertCost(eg, '0.00116', [[200, '0.30'], [1000, '1.00'], [40, '2.50']]);
  await proxy.stopClean();
});

test('gemini streamGenerateContent?alt=sse (CRLF framing): running totals, the last one wins', async (t) => {
  const chunks = [
    { candidates: [{ content: { parts: [{ text: 'Let' }], role: 'model' }, index: 0 }], usageMetadata: { promptTokenCount: 500, totalTokenCount: 500 }, modelVersion: 'gemini-2.5-pro', responseId: 'r1' },
    { candidates: [{ content: { parts: [{ text: ' me think' }], role: 'model' }, index: 0 }], usageMetadata: { promptTokenCount: 500, candidatesTokenCount: 40, thoughtsTokenCount: 200, totalTokenCount: 740 }, modelVersion: 'gemini-2.5-pro', responseId: 'r1' },
    { candidates: [{ content: { parts: [{ text: '.' }], role: 'model' }, finishReason: 'STOP', index: 0 }], usageMetadata: { promptTokenCount: 500, candidatesTokenCount: 120, thoughtsTokenCount: 380, totalTokenCount: 1000, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 500 }] }, modelVersion: 'gemini-2.5-pro', responseId: 'r1' },
  ];
  const wire = chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`).join('');
  const { up, proxy, ledger } = await setup(t, async (req, res) => {
    startSse(res);
    await writeInPieces(res, wire, { size: 11 }); // splits CRLFs across reads
    res.end();
  });
  const res = await rawStream(`${proxy.url}/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse`, {
    headers: { 'content-type': 'application/json', 'x-goog-api-key': 'gm-test' },
    body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generationConfig: { maxOutputTokens: 2000 } }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString('utf8'), wire, 'the stream is relayed unchanged');
  assert.equal(up.requests[0].url, '/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse');
  // 500 × 1.25 + (120 + 380) × 10.00 = 625 + 5000 = 5625 USD per 1M → 0.005625 USD
  const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
  assertLedgerShape(e);
  assertFields(e, {
    provider: 'gemini', requested_model: 'gemini-2.5-pro', stream: true, status: 200,
    input_tokens: 500, cached_input_tokens: 0, output_tokens: 500, reasoning_tokens: 380, usage_source: 'provider',
  });
  assertCost(e, '0.005625', [[500, '1.25'], [500, '10.00']]);
  await proxy.stopClean();
});

// ----------------------------------------------------------------------------------- model resolution

test('dated response models: gpt-4o-2024-08-06 priced as gpt-4o, gpt-4o-2024-05-13 at its own 5/15', async (t) => {
  const { proxy, ledger } = await setup(t, async (req, res, rec) => {
    const model = req.headers['x-test-response-model'];
    json(res, 200, chatCompletion({ model, usage: chatUsage({ prompt: 1000, completion: 100 }) }));
  });
  const cases = [
    // 1000 × 2.50 + 100 × 10.00 = 2500 + 1000 = 3500 USD per 1M → 0.0035 USD
    { request: 'gpt-4o', response: 'gpt-4o-2024-08-06', cost: '0.0035', terms: [[1000, '2.50'], [100, '10.00']], source: 'catalog:exact-request' },
    { request: 'gpt-4o-2024-08-06', response: 'gpt-4o-2024-08-06', cost: '0.0035', terms: [[1000, '2.50'], [100, '10.00']], source: 'catalog:dated-response' },
    // 1000 × 5.00 + 100 × 15.00 = 5000 + 1500 = 6500 USD per 1M → 0.0065 USD
    { request: 'gpt-4o', response: 'gpt-4o-2024-05-13', cost: '0.0065', terms: [[1000, '5.00'], [100, '15.00']], source: 'catalog:exact-response' },
    { request: 'gpt-4o-2024-05-13', response: 'gpt-4o-2024-05-13', cost: '0.0065', terms: [[1000, '5.00'], [100, '15.00']], source: 'catalog:exact-response' },
  ];
  for (const c of cases) {
    const what = `${c.request} -> ${c.response}`;
    const res = await postJson(`${proxy.url}/v1/chat/completions`,
      { model: c.request, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] },
      { authorization: 'Bearer sk-test', 'x-test-response-model': c.response });
    assert.equal(res.status, 200, `${what}: ${res.text}`);
    assertCostHeader(res.headers['x-spendgate-cost-usd'], c.cost, what);
    const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
    assertFields(e, { model: c.response, requested_model: c.request, price_source: c.source }, what);
    assertCost(e, c.cost, c.terms, what);
  }
  await proxy.stopClean();
});

// ----------------------------------------------------------------------------------- pricing policy

function pricedChatHandler(usage) {
  return async (req, res, rec) => json(res, 200, chatCompletion({ model: parseBody(rec).model, usage }));
}

test('unknown_model: reject (default) answers 400 model_not_priced in each format and never reaches the upstream', async (t) => {
  const { up, proxy, ledger } = await setup(t, pricedChatHandler(chatUsage({ prompt: 10, completion: 10 })));
  const oa = await postJson(`${proxy.url}/v1/chat/completions`,
    { model: 'gpt-9-ultra', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, { authorization: 'Bearer sk-test' });
  assert.equal(oa.status, 400, oa.text);
  assert.ok(oa.headers['x-spendgate-request-id']);
  const ob = oa.json();
  assert.equal(ob.error.code, 'model_not_priced');
  assert.equal(ob.error.type, 'invalid_request_error');
  assert.equal(ob.error.param, null);
  assert.equal(typeof ob.error.message, 'string');

  const an = await postJson(`${proxy.url}/v1/messages`,
    { model: 'claude-9-opus', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
    { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' });
  assert.equal(an.status, 400, an.text);
  assert.equal(an.json().type, 'error');
  assert.equal(an.json().error.type, 'invalid_request_error');

  const gm = await postJson(`${proxy.url}/v1beta/models/gemini-9-ultra:generateContent`,
    { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }, { 'x-goog-api-key': 'gm-test' });
  assert.equal(gm.status, 400, gm.text);
  assert.equal(gm.json().error.code, 400);
  assert.equal(gm.json().error.status, 'INVALID_ARGUMENT');

  // a priced model still goes through on the same proxy
  const ok = await postJson(`${proxy.url}/v1/chat/completions`,
    { model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, { authorization: 'Bearer sk-test' });
  assert.equal(ok.status, 200);
  assert.equal(up.requests.length, 1, 'denied requests must never reach the upstream');
  await waitForEntry(ledger, ok.headers['x-spendgate-request-id']);
  await proxy.stopClean();
  assert.equal(readLedger(ledger).length, 1, 'denied requests write no ledger line');
  // SPEC §4: every denial carries x-spendgate-denied: <reason>
  for (const [name, r] of [['openai', oa], ['anthropic', an], ['gemini', gm]]) {
    assert.equal(r.headers['x-spendgate-denied'], 'unknown_model', `${name} denial lacks x-spendgate-denied: ${JSON.stringify(r.headers)}`);
  }
});

test('unknown_model: reject on an unmapped Azure deployment names providers.<name>.deployments; a mapped deployment is priced and forwarded', async (t) => {
  const up = await startUpstream({ handler: pricedChatHandler(chatUsage({ prompt: 10, completion: 10 })) });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: {
      ...(await providers({ openai: up.url })),
      myazure: { format: 'azure', base_url: up.url, routes: ['/openai/'], api_key_env: '', deployments: { 'prod-mini': 'gpt-4o-mini' } },
    },
  });
  const body = { max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
  const res = await postJson(`${proxy.url}/openai/deployments/my-dep/chat/completions?api-version=2024-10-21`, body, { 'api-key': 'az-test' });
  assert.equal(res.status, 400, res.text);
  const err = res.json().error;
  assert.equal(err.code, 'model_not_priced');
  assert.match(err.message, /"my-dep" has no price/);
  assert.match(err.message, /map it under providers\.myazure\.deployments \(my-dep: <model>\)/, err.message);

  const ok = await postJson(`${proxy.url}/openai/deployments/prod-mini/chat/completions?api-version=2024-10-21`, body, { 'api-key': 'az-test' });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(up.requests.length, 1, 'only the mapped deployment reached the upstream');
  await proxy.stopClean();
});

test('Azure v1 API (openai SDK, baseURL /openai/v1): the body model is a deployment, mapped through providers.<azure>.deployments for chat and responses', async (t) => {
  const usage = chatUsage({ prompt: 1000, completion: 100 });
  const up = await startUpstream({
    handler: async (req, res, rec) => {
      if (req.url.startsWith('/openai/v1/responses')) {
        return json(res, 200, {
          id: 'resp_1', object: 'response', created_at: 1741476542, status: 'completed', model: 'gpt-4o-2024-08-06',
          output: [{ id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hi', annotations: [] }] }],
          usage: { input_tokens: 1000, input_tokens_details: { cached_tokens: 0 }, output_tokens: 100, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 1100 },
        });
      }
      return json(res, 200, chatCompletion({ model: 'gpt-4o-2024-08-06', usage }));
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: {
      ...(await providers({ openai: up.url })),
      myazure: { format: 'azure', base_url: up.url, routes: ['/openai/'], api_key_env: '', deployments: { 'prod-gpt4o': 'gpt-4o' } },
    },
  });
  const ledger = ledgerPathOf(proxy);
  const client = new OpenAI({ apiKey: 'az-test', baseURL: `${proxy.url}/openai/v1`, maxRetries: 0 });
  // 1000 × 2.50 + 100 × 10.00 = 3500 USD per 1M → 0.0035 USD (gpt-4o, the mapped model)
  const terms = [[1000, '2.50'], [100, '10.00']];

  const { data: chat, response: r1 } = await client.chat.completions
    .create({ model: 'prod-gpt4o', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  assert.equal(chat.choices[0].message.role, 'assistant');
  assert.equal(up.requests[0].url, '/openai/v1/chat/completions');
  assert.equal(parseBody(up.requests[0]).model, 'prod-gpt4o', 'the body goes upstream unchanged');
  const e1 = await waitForEntry(ledger, r1.headers.get('x-spendgate-request-id'));
  assertLedgerShape(e1);
  assertFields(e1, { provider: 'myazure', requested_model: 'gpt-4o', model: 'gpt-4o-2024-08-06', input_tokens: 1000, output_tokens: 100, price_source: 'catalog:exact-request' });
  assertCost(e1, '0.0035', terms);

  const { response: r2 } = await client.responses.create({ model: 'prod-gpt4o', input: 'hi', max_output_tokens: 100 }).withResponse();
  assert.equal(up.requests[1].url, '/openai/v1/responses');
  const e2 = await waitForEntry(ledger, r2.headers.get('x-spendgate-request-id'));
  assertFields(e2, { provider: 'myazure', requested_model: 'gpt-4o', price_source: 'catalog:exact-request' });
  assertCost(e2, '0.0035', terms);

  // An unmapped deployment in the body is refused as the classic path's is, naming the map.
  const err = await client.chat.completions.create({ model: 'my-dep', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
    .then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.BadRequestError, String(err));
  assert.equal(err.code, 'model_not_priced');
  assert.match(err.message, /map it under providers\.myazure\.deployments \(my-dep: <model>\)/, err.message);
  assert.equal(up.requests.length, 2);
  await proxy.stopClean();
});

test('Azure classic stream at an api-version before stream_options (2024-02-01): forwarded without include_usage and estimated; 2024-10-21 still gets it', async (t) => {
  // Like Azure: api-versions before 2024-08-01-preview refuse stream_options with a 400.
  const up = await startUpstream({
    handler: async (req, res, rec) => {
      const version = new URL(req.url, 'http://x').searchParams.get('api-version');
      const body = parseBody(rec);
      if (body.stream_options !== undefined && version < '2024-08-01') {
        return json(res, 400, { error: { code: null, message: 'Unrecognized request argument supplied: stream_options', param: null, type: 'invalid_request_error' } });
      }
      startSse(res);
      for (const f of openaiChatStreamFrames({ includeUsage: body.stream_options?.include_usage === true, usage: STREAM_USAGE })) await writeAsync(res, f);
      res.end();
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: {
      ...(await providers({ openai: up.url })),
      myazure: { format: 'azure', base_url: up.url, routes: ['/openai/'], api_key_env: '', deployments: { 'prod-mini': 'gpt-4o-mini' } },
    },
  });
  const ledger = ledgerPathOf(proxy);
  const req = { model: 'prod-mini', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] };
  const text = 'Hello! The text "usage":null, {"choices":[]} is just text.';

  const old = new AzureOpenAI({ endpoint: proxy.url, apiKey: 'az-test', apiVersion: '2024-02-01', deployment: 'prod-mini', maxRetries: 0 });
  const { data: s1, response: r1 } = await old.chat.completions.create(req).withResponse();
  assert.equal((await collect(s1)).map((c) => c.choices[0]?.delta?.content ?? '').join(''), text);
  assert.equal(up.requests[0].url, '/openai/deployments/prod-mini/chat/completions?api-version=2024-02-01');
  assert.equal(parseBody(up.requests[0]).stream_options, undefined, 'no stream_options for an api-version that refuses them');
  const e1 = await waitForEntry(ledger, rid(r1));
  assertFields(e1, { status: 200, stream: true, requested_model: 'gpt-4o-mini', usage_source: 'estimated' });

  const current = new AzureOpenAI({ endpoint: proxy.url, apiKey: 'az-test', apiVersion: '2024-10-21', deployment: 'prod-mini', maxRetries: 0 });
  const { data: s2, response: r2 } = await current.chat.completions.create(req).withResponse();
  const chunks = await collect(s2);
  assert.ok(chunks.every((c) => !('usage' in c)), 'the injected usage chunk is filtered out');
  assert.equal(parseBody(up.requests[1]).stream_options?.include_usage, true);
  const e2 = await waitForEntry(ledger, rid(r2));
  assertFields(e2, { stream: true, requested_model: 'gpt-4o-mini', input_tokens: 1200, output_tokens: 80, usage_source: 'provider' });
  assertCost(e2, STREAM_COST, STREAM_TERMS);
  await proxy.stopClean();
});

test('unknown_model: allow forwards with cost 0 (price_source unpriced), tokens still recorded', async (t) => {
  const { up, proxy, ledger } = await setup(t, pricedChatHandler(chatUsage({ prompt: 1000, completion: 500 })),
    { extra: { pricing: { unknown_model: 'allow' } } });
  const res = await postJson(`${proxy.url}/v1/chat/completions`,
    { model: 'my-local-llama', max_tokens: 500, messages: [{ role: 'user', content: 'hi' }] }, { authorization: 'Bearer sk-test' });
  assert.equal(res.status, 200, res.text);
  assert.equal(up.requests.length, 1);
  assertCostHeader(res.headers['x-spendgate-cost-usd'], '0');
  const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
  assertLedgerShape(e);
  assertFields(e, { model: 'my-local-llama', requested_model: 'my-local-llama', input_tokens: 1000, output_tokens: 500, price_source: 'unpriced', usage_source: 'provider' });
  assertCost(e, '0');
  await proxy.stopClean();
});

test('unknown_model: {price: {input: 1.0, output: 2.0}} prices unknown models at those rates', async (t) => {
  const { proxy, ledger } = await setup(t, pricedChatHandler(chatUsage({ prompt: 1000, cached: 300, completion: 500 })),
    { extra: { pricing: { unknown_model: { price: { input: 1.0, output: 2.0 } } } } });
  const res = await postJson(`${proxy.url}/v1/chat/completions`,
    { model: 'my-local-llama', max_tokens: 500, messages: [{ role: 'user', content: 'hi' }] }, { authorization: 'Bearer sk-test' });
  assert.equal(res.status, 200, res.text);
  // cached_input defaults to input: 700 × 1.0 + 300 × 1.0 + 500 × 2.0 = 700 + 300 + 1000 = 2000 USD per 1M → 0.002 USD
  assertCostHeader(res.headers['x-spendgate-cost-usd'], '0.002');
  const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
  assertFields(e, { price_source: 'policy:price', input_tokens: 1000, cached_input_tokens: 300, output_tokens: 500 });
  assertCost(e, '0.002', [[700, '1.0'], [300, '1.0'], [500, '2.0']]);
  await proxy.stopClean();
});

test('pricing.models adds a model and overrides a catalog price', async (t) => {
  const { up, proxy, ledger } = await setup(t, pricedChatHandler(chatUsage({ prompt: 2000, cached: 1000, completion: 100 })), {
    extra: {
      pricing: {
        models: {
          'ft:gpt-4o-mini:acme': { input: 0.30, cached_input: 0.15, output: 1.20, max_output_tokens: 16384 },
          'gpt-4o-mini': { input: 1.00, cached_input: 0.50, output: 3.00 },
        },
      },
    },
  });
  const send = (model) => postJson(`${proxy.url}/v1/chat/completions`,
    { model, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }, { authorization: 'Bearer sk-test' });
  const a = await send('ft:gpt-4o-mini:acme');
  assert.equal(a.status, 200, a.text);
  // (2000 - 1000) × 0.30 + 1000 × 0.15 + 100 × 1.20 = 300 + 150 + 120 = 570 USD per 1M → 0.00057 USD
  assertCostHeader(a.headers['x-spendgate-cost-usd'], '0.00057');
  const ea = await waitForEntry(ledger, a.headers['x-spendgate-request-id']);
  assertFields(ea, { model: 'ft:gpt-4o-mini:acme', price_source: 'config:exact-response' });
  assertCost(ea, '0.00057', [[1000, '0.30'], [1000, '0.15'], [100, '1.20']]);

  const b = await send('gpt-4o-mini');
  assert.equal(b.status, 200, b.text);
  // override, not the catalog's 0.15/0.075/0.60: 1000 × 1.00 + 1000 × 0.50 + 100 × 3.00 = 1000 + 500 + 300 = 1800 → 0.0018 USD
  assertCostHeader(b.headers['x-spendgate-cost-usd'], '0.0018');
  const eb = await waitForEntry(ledger, b.headers['x-spendgate-request-id']);
  assertFields(eb, { price_source: 'config:exact-response' });
  assertCost(eb, '0.0018', [[1000, '1.00'], [1000, '0.50'], [100, '3.00']]);
  assert.equal(up.requests.length, 2);
  await proxy.stopClean();
});

// ----------------------------------------------------------------------------------- unbilled answers

test('upstream 4xx/5xx and GET /v1/models: x-spendgate-cost-usd "0" and a zero-cost ledger line', async (t) => {
  const { proxy, ledger } = await setup(t, async (req, res) => {
    if (req.method === 'GET' && req.url === '/v1/models') {
      return json(res, 200, { object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'system' }] });
    }
    const status = Number(req.headers['x-test-status']);
    // an error body that even carries a usage-like member must not be billed
    return json(res, status, { error: { message: 'Rate limit reached', type: 'tokens', param: null, code: 'rate_limit_exceeded' }, usage: { prompt_tokens: 999, completion_tokens: 999 } });
  });
  const results = [];
  for (const status of [400, 429, 500, 503]) {
    const res = await postJson(`${proxy.url}/v1/chat/completions`,
      { model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
      { authorization: 'Bearer sk-test', 'x-test-status': String(status) });
    assert.equal(res.status, status);
    assert.equal(res.json().error.code, 'rate_limit_exceeded', 'upstream error body relayed');
    assert.equal(res.headers['x-spendgate-cost-usd'], '0', `status ${status}`);
    results.push([status, res.headers['x-spendgate-request-id']]);
  }
  const models = await request(`${proxy.url}/v1/models`, { headers: { authorization: 'Bearer sk-test' } });
  assert.equal(models.status, 200);
  assert.equal(models.headers['x-spendgate-cost-usd'], '0');
  results.push([200, models.headers['x-spendgate-request-id']]);
  for (const [status, id] of results) {
    const e = await waitForEntry(ledger, id);
    assertLedgerShape(e, `status ${status}`);
    assertFields(e, { status, output_tokens: 0 }, `status ${status}`);
    assertCost(e, '0', undefined, `status ${status}`);
  }
  await proxy.stopClean();
  assert.equal(readLedger(ledger).length, 5);
});

// ----------------------------------------------------------------------------------- timings

test('ledger latency_ms / upstream_ms reflect a slow upstream (plain, streamed, unbilled)', async (t) => {
  const { proxy, ledger } = await setup(t, async (req, res, rec) => {
    await new Promise((r) => setTimeout(r, 150)); // the upstream thinks for 150 ms before answering
    const body = parseBody(rec);
    if (req.method === 'GET') return json(res, 200, { object: 'list', data: [] });
    if (!body.stream) return json(res, 200, chatCompletion({ usage: chatUsage({ prompt: 10, completion: 10 }) }));
    startSse(res);
    for (const f of openaiChatStreamFrames({ includeUsage: true, usage: chatUsage({ prompt: 10, completion: 10 }) })) await writeAsync(res, f);
    res.end();
  });
  const send = (stream) => postJson(`${proxy.url}/v1/chat/completions`,
    { model: 'gpt-4o-mini', max_tokens: 10, stream, messages: [{ role: 'user', content: 'hi' }] }, { authorization: 'Bearer sk-test' });
  const cases = [['plain', await send(false)], ['stream', await send(true)],
    ['GET /v1/models', await request(`${proxy.url}/v1/models`, { headers: { authorization: 'Bearer sk-test' } })]];
  const problems = [];
  for (const [what, res] of cases) {
    assert.equal(res.status, 200, what);
    const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
    assertLedgerShape(e, what);
    if (!(e.json.upstream_ms >= 140)) problems.push(`${what}: upstream_ms ${e.json.upstream_ms} (< 150 ms the upstream took)`);
    if (!(e.json.latency_ms >= 140)) problems.push(`${what}: latency_ms ${e.json.latency_ms}`);
  }
  await proxy.stopClean();
  assert.deepEqual(problems, [], problems.join('\n'));
});

// ----------------------------------------------------------------------------------- injection edge cases

test('stream_options present without include_usage (include_usage:false / include_obfuscation kept): injected, filtered, bytes unchanged', async (t) => {
  const { up, proxy, ledger } = await setup(t, openaiLikeStreamHandler({ pieces: { size: 9 } }));
  const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-test' };
  for (const stream_options of [{ include_usage: false }, { include_obfuscation: false }, { include_obfuscation: false, include_usage: false }]) {
    const what = JSON.stringify(stream_options);
    const body = JSON.stringify({ model: 'gpt-4o-mini', stream: true, stream_options, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
    const n = up.requests.length;
    const direct = await rawStream(`${up.url}/v1/chat/completions`, { headers, body });
    const viaProxy = await rawStream(`${proxy.url}/v1/chat/completions`, { headers, body });
    const sent = parseBody(up.requests[n + 1]);
    assert.equal(sent.stream_options.include_usage, true, `${what}: not injected: ${up.requests[n + 1].body}`);
    if ('include_obfuscation' in stream_options) assert.equal(sent.stream_options.include_obfuscation, false, `${what}: other stream_options keys must be kept`);
    assert.equal(viaProxy.body.toString('utf8'), direct.body.toString('utf8'), `${what}: bytes differ`);
    const e = await waitForEntry(ledger, viaProxy.headers['x-spendgate-request-id']);
    assertFields(e, { usage_source: 'provider', input_tokens: 1200, output_tokens: 80 }, what);
    assertCost(e, STREAM_COST, STREAM_TERMS, what);
  }
  await proxy.stopClean();
});

test('legacy /v1/completions stream without include_usage: injected, filtered, exact cost', async (t) => {
  const usage = chatUsage({ prompt: 100, completion: 50 });
  const { up, proxy, ledger } = await setup(t, async (req, res, rec) => {
    const inc = parseBody(rec).stream_options?.include_usage === true;
    const base = { id: 'cmpl-8xyz', object: 'text_completion', created: 1741570284, model: 'gpt-3.5-turbo-instruct-0914' };
    const frames = ['Hello', ' world', ''].map((text, i) => ({ ...base, choices: [{ text, index: 0, logprobs: null, finish_reason: i === 2 ? 'stop' : null }], ...(inc ? { usage: null } : {}) }));
    if (inc) frames.push({ ...base, choices: [], usage });
    startSse(res);
    for (const f of frames) await writeAsync(res, `data: ${JSON.stringify(f)}\n\n`);
    await writeAsync(res, 'data: [DONE]\n\n');
    res.end();
  });
  const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-test' };
  const body = JSON.stringify({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say hello', max_tokens: 50, stream: true });
  const direct = await rawStream(`${up.url}/v1/completions`, { headers, body });
  const viaProxy = await rawStream(`${proxy.url}/v1/completions`, { headers, body });
  assert.equal(parseBody(up.requests[1]).stream_options?.include_usage, true);
  assert.equal(viaProxy.body.toString('utf8'), direct.body.toString('utf8'));
  // 100 × 1.50 + 50 × 2.00 = 150 + 100 = 250 USD per 1M → 0.00025 USD
  const e = await waitForEntry(ledger, viaProxy.headers['x-spendgate-request-id']);
  assertFields(e, { model: 'gpt-3.5-turbo-instruct-0914', requested_model: 'gpt-3.5-turbo-instruct', stream: true, input_tokens: 100, output_tokens: 50, usage_source: 'provider' });
  assertCost(e, '0.00025', [[100, '1.50'], [50, '2.00']]);
  await proxy.stopClean();
});

test('upstream that gzips anyway (plain JSON and SSE): client gets a consistent body, ledger exact', async (t) => {
  const { gzipSync } = await import('node:zlib');
  const plain = JSON.stringify(chatCompletion({ usage: chatUsage({ prompt: 1000, cached: 400, completion: 200 }) }));
  const { up, proxy, ledger } = await setup(t, async (req, res, rec) => {
    const body = parseBody(rec);
    if (!body.stream) {
      const gz = gzipSync(plain);
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': gz.length });
      return res.end(gz);
    }
    const frames = openaiChatStreamFrames({ includeUsage: body.stream_options?.include_usage === true, usage: STREAM_USAGE }).join('');
    res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' });
    res.end(gzipSync(frames));
  });
  const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-test', 'accept-encoding': 'gzip' };
  const { gunzipSync } = await import('node:zlib');
  const decode = (r) => (/gzip/.test(r.headers['content-encoding'] ?? '') ? gunzipSync(r.body) : r.body).toString('utf8');

  // both parts run even if the first fails, so one run reports every problem
  const problems = [];
  try {
    const a = await rawStream(`${proxy.url}/v1/chat/completions`, { headers, body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 300, messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(a.status, 200);
    assert.deepEqual(JSON.parse(decode(a)), JSON.parse(plain), 'body must agree with its content-encoding');
    const ea = await waitForEntry(ledger, a.headers['x-spendgate-request-id']);
    assertFields(ea, { usage_source: 'provider', input_tokens: 1000, cached_input_tokens: 400, output_tokens: 200 }, 'gzip JSON');
    assertCost(ea, '0.00024', [[600, '0.15'], [400, '0.075'], [200, '0.60']], 'gzip JSON');
  } catch (e) { problems.push(`gzip JSON: ${e.message}`); }
  try {
    const b = await rawStream(`${proxy.url}/v1/chat/completions`, { headers, body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(b.status, 200);
    assert.equal(decode(b), openaiChatStreamFrames({ includeUsage: false, usage: STREAM_USAGE }).join(''), 'gzip SSE: client stream without the injected usage');
    const eb = await waitForEntry(ledger, b.headers['x-spendgate-request-id']);
    assertFields(eb, { usage_source: 'provider', input_tokens: 1200, output_tokens: 80 }, 'gzip SSE');
    assertCost(eb, STREAM_COST, STREAM_TERMS, 'gzip SSE');
  } catch (e) { problems.push(`gzip SSE: ${e.message}`); }
  assert.equal(up.requests.length, 2);
  await proxy.stopClean();
  assert.deepEqual(problems, [], problems.join('\n\n'));
});
