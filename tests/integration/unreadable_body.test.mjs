// Request bodies spendgate could not read used to go upstream with a zero reservation, past
// request_limits.max_cost_usd and every hard budget, though providers and other JSON readers take
// them (a UTF-8 BOM, deep nesting, an unpaired \udead escape), and so did a request naming no model.
// Now: a BOM is skipped and 1024 levels are read, so such bodies are metered like plain ones; under
// unknown_model: reject (the default) a metered body that still cannot be read, or that names no
// model, is refused 400 unknown_model (SPEC §4); allow and price keep forwarding it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json, startSse } from './lib/fake_upstream.mjs';
import { request } from './lib/http.mjs';
import { assertDenied, admin } from './lib/enforcement.mjs';
import { chatCompletion, chatUsage, openaiChatStreamFrames } from './lib/openai_stream.mjs';
import { ledgerPathOf, waitForEntry, readLedger, assertFields } from './lib/ledger.mjs';

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

const LONE_SURROGATE = '{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"\\udead"}]}';
const ANTHROPIC_LONE_SURROGATE = '{"model":"claude-haiku-4-5","max_tokens":32000,"messages":[{"role":"user","content":"\\udead"}]}';

/** The bodies that cannot be priced, per format: [what, body]. */
const UNPRICEABLE = {
  openai: [
    ['a lone surrogate escape', LONE_SURROGATE],
    ['no model', '{"messages":[{"role":"user","content":"hi"}]}'],
    ['a number as model', '{"model":123,"messages":[{"role":"user","content":"hi"}]}'],
    ['an empty model', '{"model":"","messages":[]}'],
    ['nesting deeper than 1024', deepToolsBody(600)],
    ['not JSON', 'model=gpt-4o-mini'],
  ],
  anthropic: [
    ['a lone surrogate escape', ANTHROPIC_LONE_SURROGATE],
    ['no model', '{"max_tokens":32000,"messages":[{"role":"user","content":"hi"}]}'],
  ],
};

async function deniedCount(proxy, reason) {
  const r = await admin(proxy.adminUrl, 'GET', '/metrics');
  const line = r.text.split('\n').find((l) => l.startsWith(`spendgate_denied_total{reason="${reason}"}`));
  return Number(line?.split(' ')[1]);
}

test('unknown_model: reject refuses an unreadable or model-less metered body with 400 unknown_model, in OpenAI and Anthropic formats, before the upstream', async (t) => {
  const { up, proxy, ledger } = await setup(t);
  let denied = 0;
  for (const [what, body] of UNPRICEABLE.openai) {
    const r = await post(proxy, OPENAI, body);
    const err = assertDenied(r, 'unknown_model', { what });
    denied++;
    assert.match(err.error.message, what.includes('model') ? /names no model/ : /not JSON spendgate can read/, `${what}: ${err.error.message}`);
  }
  for (const [what, body] of UNPRICEABLE.anthropic) {
    const r = await post(proxy, ANTHROPIC, body);
    const err = assertDenied(r, 'unknown_model', { format: 'anthropic', what });
    denied++;
    assert.match(err.error.message, /names no model|not JSON spendgate can read/, `${what}: ${err.error.message}`);
  }
  // Gemini's OpenAI-compatible API reads the model from the body too, and answers in OpenAI's shape.
  assertDenied(await post(proxy, { path: '/v1beta/openai/chat/completions', headers: { authorization: 'Bearer gm-test' } }, LONE_SURROGATE),
    'unknown_model', { what: 'gemini-compat' });
  denied++;
  assert.equal(up.requests.length, 0, 'a refused request never reaches the upstream');
  assert.equal(await deniedCount(proxy, 'unknown_model'), denied, 'counted as unknown_model denials');

  // Free endpoints are not metered: their bodies are not read, nor refused.
  const files = await request(`${proxy.url}/v1/files`, { method: 'POST', headers: { authorization: 'Bearer sk-test', 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--\r\n' });
  assert.equal(files.status, 200, files.text);
  const count = await post(proxy, { ...ANTHROPIC, path: '/v1/messages/count_tokens' }, '{"messages":[]}');
  assert.equal(count.status, 200, count.text);
  assert.equal(up.requests.length, 2);

  await proxy.stopClean();
  assert.equal(readLedger(ledger).length, 2, 'a refused request writes no ledger line');
});

test('the official openai SDK gets a BadRequestError model_not_priced for a request without a model', async (t) => {
  const { up, proxy } = await setup(t);
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0 });
  const err = await client.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.BadRequestError, String(err));
  assert.equal(err.status, 400);
  assert.equal(err.code, 'model_not_priced');
  assert.equal(err.type, 'invalid_request_error');
  assert.match(err.message, /names no model/);
  assert.equal(err.headers.get?.('x-spendgate-denied') ?? err.headers['x-spendgate-denied'], 'unknown_model');
  assert.equal(up.requests.length, 0);
  await proxy.stopClean();
});

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

test('unknown_model: allow forwards unreadable and model-less bodies unreserved, priced 0 as unpriced', async (t) => {
  const { up, proxy, ledger } = await setup(t, {
    pricing: { unknown_model: 'allow' },
    budgets: [{ name: 'tiny', scope: 'global', period: 'day', limit_usd: 0.000001, mode: 'hard' }],
  });
  const bodies = [LONE_SURROGATE.replace('gpt-4o-mini', 'my-llama'), '{"messages":[]}'];
  for (const body of bodies) {
    const r = await post(proxy, OPENAI, body);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-spendgate-cost-usd'], '0');
    const e = await waitForEntry(ledger, r.headers['x-spendgate-request-id']);
    assertFields(e, { requested_model: '', price_source: 'unpriced' });
  }
  const an = await post(proxy, ANTHROPIC, '{"max_tokens":100,"messages":[]}');
  assert.equal(an.status, 200, an.text);
  assert.equal(up.requests.length, 3);
  await proxy.stopClean();
});

test('unknown_model: price reserves unreadable and model-less bodies at the policy price (a small hard budget refuses them)', async (t) => {
  // 128000 output tokens (no cap can be read) at 2.0 per 1M: a worst case of about 0.256 USD.
  const policy = { price: { input: 1.0, output: 2.0 } };
  const small = await setup(t, {
    pricing: { unknown_model: policy },
    budgets: [{ name: 'small', scope: 'global', period: 'day', limit_usd: 0.1, mode: 'hard' }],
  });
  for (const body of [LONE_SURROGATE, '{"messages":[]}']) {
    assertDenied(await post(small.proxy, OPENAI, body), 'budget', { what: body.slice(0, 40) });
  }
  assert.equal(small.up.requests.length, 0);
  await small.proxy.stopClean();

  const large = await setup(t, {
    pricing: { unknown_model: policy },
    budgets: [{ name: 'large', scope: 'global', period: 'day', limit_usd: 1, mode: 'hard' }],
  });
  // The answers name a model with no price: charged at the policy price too.
  for (const body of [LONE_SURROGATE.replace('gpt-4o-mini', 'my-llama'), '{"messages":[]}']) {
    const r = await post(large.proxy, OPENAI, body);
    assert.equal(r.status, 200, r.text);
    const e = await waitForEntry(large.ledger, r.headers['x-spendgate-request-id']);
    assertFields(e, { price_source: 'policy:price' });
  }
  await large.proxy.stopClean();
});
