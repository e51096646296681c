// Ledger completeness over a mixed run: exactly one line per forwarded request (lines == distinct
// request ids == forwarded requests), none for denied or unrouted ones, each with the hand-computed
// cost, and the total spend exact to the picodollar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json, startSse, sseFrame, writeAsync } from './lib/fake_upstream.mjs';
import { request } from './lib/http.mjs';
import {
  ledgerPathOf, waitForLedger, readLedger, assertCost, assertCostHeader, assertLedgerShape, rawMember, usdToPico, picoToUsd,
  sha256hex,
} from './lib/ledger.mjs';
import { openaiChatStreamFrames, chatUsage, chatCompletion } from './lib/openai_stream.mjs';

const VK = `sg-vk-${randomBytes(16).toString('hex')}`;
const parseBody = (rec) => { try { return JSON.parse(rec.body.toString() || '{}'); } catch { return {}; } };

function upstreamHandler() {
  return async (req, res, rec) => {
    const body = parseBody(rec);
    if (req.headers['x-test-status']) {
      return json(res, Number(req.headers['x-test-status']), { error: { message: 'Rate limit reached', type: 'tokens', param: null, code: 'rate_limit_exceeded' } });
    }
    if (req.method === 'GET' && req.url === '/v1/models') return json(res, 200, { object: 'list', data: [] });
    if (req.url === '/v1/embeddings') {
      return json(res, 200, { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }], model: 'text-embedding-3-small', usage: { prompt_tokens: 12345, total_tokens: 12345 } });
    }
    if (req.url === '/v1/chat/completions') {
      if (!body.stream) return json(res, 200, chatCompletion({ usage: chatUsage({ prompt: 1000, cached: 400, completion: 200 }) }));
      startSse(res);
      for (const f of openaiChatStreamFrames({ includeUsage: body.stream_options?.include_usage === true, usage: chatUsage({ prompt: 1200, cached: 1024, completion: 80 }) })) await writeAsync(res, f);
      return res.end();
    }
    if (req.url === '/v1/messages') {
      if (!body.stream) {
        return json(res, 200, {
          id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', content: [{ type: 'text', text: 'Hi' }], stop_reason: 'end_turn', stop_sequence: null,
          usage: { input_tokens: 100, cache_creation_input_tokens: 1500, cache_read_input_tokens: 2000, cache_creation: { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 1000 }, output_tokens: 300 },
        });
      }
      startSse(res);
      const ev = [
        { event: 'message_start', data: { type: 'message_start', message: { id: 'msg_2', type: 'message', role: 'assistant', model: 'claude-haiku-4-5-20251001', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 1000, output_tokens: 1 } } } },
        { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } } },
        { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 150 } } },
        { event: 'message_stop', data: { type: 'message_stop' } },
      ];
      for (const e of ev) await writeAsync(res, sseFrame(e));
      return res.end();
    }
    if (req.url.startsWith('/v1beta/models/gemini-2.5-flash:generateContent')) {
      return json(res, 200, { candidates: [{ content: { parts: [{ text: 'Hi' }], role: 'model' }, finishReason: 'STOP', index: 0 }], usageMetadata: { promptTokenCount: 1200, cachedContentTokenCount: 1000, candidatesTokenCount: 300, thoughtsTokenCount: 700, totalTokenCount: 2200 }, modelVersion: 'gemini-2.5-flash' });
    }
    if (req.url.startsWith('/v1beta/models/gemini-2.5-pro:streamGenerateContent')) {
      startSse(res);
      await writeAsync(res, `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: 'a' }], role: 'model' }, index: 0 }], usageMetadata: { promptTokenCount: 500, totalTokenCount: 500 }, modelVersion: 'gemini-2.5-pro' })}\r\n\r\n`);
      await writeAsync(res, `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: 'b' }], role: 'model' }, finishReason: 'STOP', index: 0 }], usageMetadata: { promptTokenCount: 500, candidatesTokenCount: 120, thoughtsTokenCount: 380, totalTokenCount: 1000 }, modelVersion: 'gemini-2.5-pro' })}\r\n\r\n`);
      return res.end();
    }
    return json(res, 404, { error: { message: `fake upstream: no ${req.url}`, type: 'invalid_request_error', param: null, code: null } });
  };
}

const OA = { authorization: `Bearer ${VK}`, 'content-type': 'application/json' };
const AN = { 'x-api-key': VK, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
const GM = { 'x-goog-api-key': VK, 'content-type': 'application/json' };
const msgs = [{ role: 'user', content: 'hi' }];

// Each kind: how to send it, and (for forwarded ones) the cost computed by hand (USD per 1M rates).
const KINDS = {
  chat: { path: '/v1/chat/completions', headers: OA, body: { model: 'gpt-4o-mini', max_tokens: 300, messages: msgs }, cost: '0.00024', header: true }, // 600×0.15 + 400×0.075 + 200×0.60 = 240 → 0.00024
  chatStreamUsage: { path: '/v1/chat/completions', headers: OA, body: { model: 'gpt-4o-mini', max_tokens: 100, stream: true, stream_options: { include_usage: true }, messages: msgs }, cost: '0.0001512' }, // 176×0.15 + 1024×0.075 + 80×0.60 = 151.2
  chatStream: { path: '/v1/chat/completions', headers: OA, body: { model: 'gpt-4o-mini', max_tokens: 100, stream: true, messages: msgs }, cost: '0.0001512' },
  anthropic: { path: '/v1/messages', headers: AN, body: { model: 'claude-sonnet-4-5', max_tokens: 500, messages: msgs }, cost: '0.013275', header: true }, // 100×3 + 2000×0.30 + 500×3.75 + 1000×6 + 300×15 = 13275
  anthropicStream: { path: '/v1/messages', headers: AN, body: { model: 'claude-haiku-4-5', max_tokens: 500, stream: true, messages: msgs }, cost: '0.00087' }, // 20×1 + 1000×0.10 + 150×5 = 870
  gemini: { path: '/v1beta/models/gemini-2.5-flash:generateContent', headers: GM, body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }, cost: '0.00259', header: true }, // 200×0.30 + 1000×0.03 + 1000×2.50 = 2590
  geminiStream: { path: '/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse', headers: GM, body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }, cost: '0.005625' }, // 500×1.25 + 500×10 = 5625
  embeddings: { path: '/v1/embeddings', headers: OA, body: { model: 'text-embedding-3-small', input: 'hello' }, cost: '0.0002469', header: true }, // 12345×0.02 = 246.9
  models: { method: 'GET', path: '/v1/models', headers: { authorization: `Bearer ${VK}` }, cost: '0', header: true },
  upstream429: { path: '/v1/chat/completions', headers: { ...OA, 'x-test-status': '429' }, body: { model: 'gpt-4o-mini', max_tokens: 10, messages: msgs }, cost: '0', header: true, status: 429 },
  // denied / unrouted: never forwarded, no ledger line
  unknownModel: { path: '/v1/chat/completions', headers: OA, body: { model: 'gpt-unknown-9', max_tokens: 10, messages: msgs }, status: 400, denied: true },
  unknownKey: { path: '/v1/chat/completions', headers: { authorization: 'Bearer sk-not-a-virtual-key', 'content-type': 'application/json' }, body: { model: 'gpt-4o-mini', max_tokens: 10, messages: msgs }, status: 401, denied: true },
  noRoute: { path: '/v2/whatever', headers: OA, body: {}, status: 404, denied: true },
};

test('~50 mixed requests, 4 at a time: one ledger line per forwarded request, exact costs and total', async (t) => {
  const up = await startUpstream({ handler: upstreamHandler() });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }, {
      openai: { api_key_env: 'SG_IT_OPENAI_KEY' }, anthropic: { api_key_env: 'SG_IT_ANTHROPIC_KEY' }, gemini: { api_key_env: 'SG_IT_GEMINI_KEY' },
    }),
    env: { SG_IT_OPENAI_KEY: 'sk-real-o', SG_IT_ANTHROPIC_KEY: 'sk-real-a', SG_IT_GEMINI_KEY: 'real-g' },
    extra: { identity: { virtual_keys: [{ id: 'mix-key', key_sha256: sha256hex(VK), team: 'mix' }], passthrough: false } },
  });
  const ledger = ledgerPathOf(proxy);

  // A fixed, shuffled plan of 52 requests: 4 of each kind.
  const names = Object.keys(KINDS);
  const plan = [];
  for (let i = 0; i < 4; i++) plan.push(...names);
  let seed = 12345;
  for (let i = plan.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const j = seed % (i + 1);
    [plan[i], plan[j]] = [plan[j], plan[i]];
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  t.after(() => agent.destroy());
  const results = new Array(plan.length);
  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const i = next++;
      const k = KINDS[plan[i]];
      const res = await request(`${proxy.url}${k.path}`, {
        method: k.method ?? 'POST', headers: k.headers, body: k.body ? JSON.stringify(k.body) : undefined, agent,
      });
      results[i] = { kind: plan[i], res };
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);

  const forwarded = new Map(); // request id -> kind
  const deniedIds = [];
  for (const { kind, res } of results) {
    const k = KINDS[kind];
    assert.equal(res.status, k.status ?? 200, `${kind}: ${res.text.slice(0, 300)}`);
    const id = res.headers['x-spendgate-request-id'];
    assert.ok(id, `${kind}: no request id`);
    if (k.denied) { deniedIds.push(id); continue; }
    assert.ok(!forwarded.has(id), `request id ${id} given twice`);
    forwarded.set(id, kind);
    if (k.header) assertCostHeader(res.headers['x-spendgate-cost-usd'], k.cost, kind);
  }
  const expectedForwarded = plan.filter((n) => !KINDS[n].denied).length;
  assert.equal(forwarded.size, expectedForwarded);
  assert.equal(up.requests.length, expectedForwarded, 'only non-denied, routed requests reach the upstream');

  let lines = await waitForLedger(ledger, expectedForwarded, { timeout: 10_000, settleMs: 300, what: 'after the run' });
  const ids = lines.map((l) => l.json.request_id);
  assert.equal(new Set(ids).size, lines.length, 'every ledger line has its own request id');
  assert.deepEqual([...ids].sort(), [...forwarded.keys()].sort(), 'ledger ids == forwarded response ids');
  for (const id of deniedIds) assert.ok(!ids.includes(id), `denied request ${id} has a ledger line`);

  let total = 0n;
  let expectedTotal = 0n;
  for (const e of lines) {
    const kind = forwarded.get(e.json.request_id);
    assertLedgerShape(e, kind);
    assert.equal(e.json.key, 'mix-key', kind);
    assert.equal(e.json.team, 'mix', kind);
    assert.equal(e.json.status, KINDS[kind].status ?? 200, kind);
    assertCost(e, KINDS[kind].cost, undefined, kind);
    total += usdToPico(rawMember(e.raw, 'cost_usd'));
    expectedTotal += usdToPico(KINDS[kind].cost);
  }
  assert.equal(picoToUsd(total), picoToUsd(expectedTotal), 'total spend');

  await proxy.stopClean();
  lines = readLedger(ledger);
  assert.equal(lines.length, expectedForwarded, 'shutdown adds or drops no line');
  assert.ok(!readLedger(ledger).some((l) => l.raw.includes(VK)), 'virtual key in the ledger');
});
