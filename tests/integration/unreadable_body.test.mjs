// Request bodies spendgate could not read used to go upstream with a zero reservation, past
// request_limits.max_cost_usd and every hard budget, though providers and other JSON readers take
// them (a UTF-8 BOM, deep nesting). Now a BOM is skipped and 1024 levels are read, so such bodies
// are metered like plain ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json, startSse } from './lib/fake_upstream.mjs';
import { request } from './lib/http.mjs';
import { assertDenied } from './lib/enforcement.mjs';
import { chatCompletion, chatUsage, openaiChatStreamFrames } from './lib/openai_stream.mjs';
import { ledgerPathOf, waitForEntry, assertFields } from './lib/ledger.mjs';

const BOM = '\uFEFF'; // EF BB BF once written as UTF-8
const OPENAI = { path: '/v1/chat/completions', headers: { authorization: 'Bearer sk-test' } };
const ANTHROPIC = { path: '/v1/messages', headers: { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' } };

/** JSON.parse as Python's json.loads(bytes) reads a body: a leading BOM is skipped. */
const readBody = (rec) => {
  try { return JSON.parse(rec.body.toString('utf8').replace(/^\uFEFF/, '') || '{}'); } catch { return {}; }
};

/** An upstream that answers every call with usage, as an OpenAI-compatible server would. */
async function setup(t, extra = {}) {
  const up = await startUpstream({
    handler: async (req, res, rec) => {
      const body = readBody(rec);
      if (req.url.startsWith('/v1/messages')) {
        return json(res, 200, {
          id: 'msg_1', type: 'message', role: 'assistant', model: body.model ?? 'claude-haiku-4-5',
          content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', stop_sequence: null,
          usage: { input_tokens: 10, output_tokens: 5 },
        });
      }
      if (body.stream) {
        startSse(res);
        for (const f of openaiChatStreamFrames({ includeUsage: body.stream_options?.include_usage === true, usage: chatUsage({ prompt: 10, completion: 5 }) })) res.write(f);
        return res.end();
      }
      // A server that serves its default model when none is named (vLLM does), one with no price.
      return json(res, 200, chatCompletion({ model: typeof body.model === 'string' ? body.model : 'served-default', usage: chatUsage({ prompt: 10, completion: 5 }) }));
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    extra,
  });
  return { up, proxy, ledger: ledgerPathOf(proxy) };
}

const post = (proxy, { path, headers }, body, more = {}) => request(`${proxy.url}${path}`, {
  method: 'POST', headers: { 'content-type': 'application/json', ...headers, ...more }, body,
});

/** A chat body whose tool schema nests `levels` objects deep (about 2 JSON levels each). */
function deepToolsBody(levels, model = 'gpt-4o-mini') {
  let schema = { type: 'string' };
  for (let i = 0; i < levels; i++) schema = { type: 'object', properties: { a: schema } };
  return JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f', parameters: schema } }] });
}

test('a UTF-8 BOM body is metered like a plain one: forwarded as sent, priced by its model, bounded by max_cost_usd', async (t) => {
  const { up, proxy, ledger } = await setup(t, { request_limits: { max_cost_usd: 0.005 } });
  const body = BOM + '{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}';
  const ok = await post(proxy, OPENAI, body);
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual([...up.requests[0].body.subarray(0, 4)], [0xef, 0xbb, 0xbf, 0x7b], 'the BOM goes upstream as sent');
  const e = await waitForEntry(ledger, ok.headers['x-spendgate-request-id']);
  assertFields(e, { requested_model: 'gpt-4o-mini', input_tokens: 10, output_tokens: 5, price_source: 'catalog:exact-response' });

  // Its worst case is bounded: 128000 output tokens of gpt-4o-mini are over max_cost_usd.
  const big = await post(proxy, OPENAI, BOM + '{"model":"gpt-4o-mini","max_tokens":128000,"messages":[]}');
  assertDenied(big, 'request_cost', { what: 'BOM body over max_cost_usd' });

  // A streamed BOM body gets include_usage added, the BOM kept in front; the client sees no usage chunk.
  const streamed = await post(proxy, OPENAI, BOM + '{"model":"gpt-4o-mini","max_tokens":16,"stream":true,"messages":[]}');
  assert.equal(streamed.status, 200, streamed.text);
  const sent = up.requests[1].body;
  assert.deepEqual([...sent.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  assert.equal(readBody(up.requests[1]).stream_options?.include_usage, true, sent.toString());
  assert.doesNotMatch(streamed.text, /"usage":\{/);
  const es = await waitForEntry(ledger, streamed.headers['x-spendgate-request-id']);
  assertFields(es, { requested_model: 'gpt-4o-mini', input_tokens: 10, output_tokens: 5, usage_source: 'provider' });

  await proxy.stopClean();
});

test('a hard budget reserves a BOM body\'s worst case: 429 once it would pass the limit', async (t) => {
  // A model-matched hard budget with room for a small request, not for one of 128000 tokens.
  const { up, proxy } = await setup(t, {
    budgets: [{ name: 'mini', scope: 'global', match: { model: 'gpt-4o-mini' }, period: 'day', limit_usd: 0.01, mode: 'hard' }],
  });
  const small = await post(proxy, OPENAI, BOM + '{"model":"gpt-4o-mini","max_tokens":16,"messages":[]}');
  assert.equal(small.status, 200, small.text);
  const r = await post(proxy, OPENAI, BOM + '{"model":"gpt-4o-mini","max_tokens":128000,"messages":[]}');
  assertDenied(r, 'budget', { what: 'BOM body' });
  assert.equal(up.requests.length, 1);
  await proxy.stopClean();
});

test('a tool schema nested 300 levels deep is read: metered with its model and bounded', async (t) => {
  const { up, proxy, ledger } = await setup(t, { request_limits: { max_cost_usd: 0.005 } });
  const ok = await post(proxy, OPENAI, deepToolsBody(150));
  assert.equal(ok.status, 200, ok.text);
  const e = await waitForEntry(ledger, ok.headers['x-spendgate-request-id']);
  assertFields(e, { requested_model: 'gpt-4o-mini', price_source: 'catalog:exact-response' });
  const big = JSON.parse(deepToolsBody(150));
  big.max_tokens = 128000;
  assertDenied(await post(proxy, OPENAI, JSON.stringify(big)), 'request_cost', { what: 'deep body over max_cost_usd' });
  assert.equal(up.requests.length, 1);
  await proxy.stopClean();
});
