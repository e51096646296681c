// Responses calls the provider bills beyond a plain create: responses.compact() (a model pass with
// usage in its answer) is metered and bounded like /responses; a background run (background: true),
// whose answer says "queued" with usage null while the provider runs and bills it to its end, is
// charged its worst case, so a hard budget stops background runs as it stops foreground ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json, startSse, sseFrame } from './lib/fake_upstream.mjs';
import { ledgerPathOf, waitForLedger, assertCost, perMillion, picoToUsd } from './lib/ledger.mjs';
import { adminBudget, assertDenied } from './lib/enforcement.mjs';
import { request } from './lib/http.mjs';

const USAGE = (input, output, reasoning = 0) => ({
  input_tokens: input, input_tokens_details: { cached_tokens: 0 },
  output_tokens: output, output_tokens_details: { reasoning_tokens: reasoning }, total_tokens: input + output,
});
const completedResponse = (model) => ({
  id: 'resp_bg', object: 'response', created_at: 1, status: 'completed', background: true, model,
  output: [{ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'done', annotations: [] }] }],
  usage: USAGE(1000, 50000, 49000),
});

/** A fake OpenAI upstream answering compactions, background creates (JSON and streamed) and retrievals. */
async function upstream(t) {
  const up = await startUpstream({
    handler: async (req, res, rec) => {
      const body = rec.body.length ? JSON.parse(rec.body.toString()) : {};
      if (rec.url === '/v1/responses/compact') {
        // The compaction pass reports its usage: 1 000 in, 500 000 out (real, if absurdly long).
        return json(res, 200, { id: 'cmp_1', object: 'response.compaction', created_at: 1, output: [], usage: USAGE(1000, body.model === 'gpt-5-mini' ? 500000 : 4000) });
      }
      if (rec.method === 'GET' && rec.url.startsWith('/v1/responses/')) return json(res, 200, completedResponse('o3'));
      if (rec.url === '/v1/responses' && body.background && body.stream) {
        startSse(res);
        const response = { id: 'resp_bg', object: 'response', status: 'queued', background: true, model: body.model, usage: null };
        res.write(sseFrame({ event: 'response.created', data: { type: 'response.created', sequence_number: 0, response } }));
        res.write(sseFrame({ event: 'response.queued', data: { type: 'response.queued', sequence_number: 1, response } }));
        res.write(sseFrame({ event: 'response.output_text.delta', data: { type: 'response.output_text.delta', sequence_number: 2, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'done' } }));
        if (rec.headers['x-test-cut'] !== 'yes') {
          res.write(sseFrame({ event: 'response.completed', data: { type: 'response.completed', sequence_number: 3, response: completedResponse(body.model) } }));
        }
        return res.end();
      }
      if (rec.url === '/v1/responses' && body.background) {
        return json(res, 200, { id: 'resp_bg', object: 'response', created_at: 1, status: 'queued', background: true, model: body.model, output: [], usage: null });
      }
      return json(res, 404, { error: { message: 'not here', type: 'invalid_request_error' } });
    },
  });
  t.after(() => up.close());
  return up;
}

async function setup(t, extra) {
  const up = await upstream(t);
  const proxy = await startProxy(t, { providers: await providers({ openai: up.url }), extra });
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0 });
  return { up, proxy, client };
}

// o3: 2.00 in / 8.00 out per 1M tokens, 100 000 output tokens at most.
const O3 = { input: '2.00', output: '8.00' };
const worstCase = (bodyBytes, outputBound, p) => perMillion(bodyBytes, p.input) + perMillion(outputBound, p.output);

test('openai SDK responses.compact() is metered from its usage and refused by a used-up hard budget', async (t) => {
  const { up, proxy, client } = await setup(t, {
    budgets: [{ name: 'org', scope: 'global', period: 'day', limit_usd: 1, mode: 'hard' }],
  });
  // gpt-5-mini: 0.25 / 2.00; worst case ~ 128 000 x 2.00 / 1M = $0.256 fits the $1 budget. The
  // answer reports 1 000 in + 500 000 out = $1.00025: the budget is used up.
  const compacted = await client.responses.compact({ model: 'gpt-5-mini', previous_response_id: 'resp_1' });
  assert.equal(compacted.object, 'response.compaction');
  const [line] = await waitForLedger(ledgerPathOf(proxy), 1, { what: 'compaction ledger line' });
  assert.equal(line.json.price_source, 'catalog:exact-request', line.raw);
  assert.equal(line.json.usage_source, 'provider', line.raw);
  assert.equal(line.json.input_tokens, 1000, line.raw);
  assert.equal(line.json.output_tokens, 500000, line.raw);
  assertCost(line, '1.00025', [[1000, '0.25'], [500000, '2.00']]);
  assert.equal((await adminBudget(proxy.adminUrl, 'org')).reserved_usd, 0);

  const err = await client.responses.compact({ model: 'gpt-5-mini', previous_response_id: 'resp_1' }).then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `expected RateLimitError, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.code, 'budget_exceeded');
  assert.equal(up.requests.length, 1, 'the refused compaction was not forwarded');
  await proxy.stopClean();
});

test('responses.compact() is bounded by request_limits.max_cost_usd, with advice it can follow', async (t) => {
  const { up, proxy } = await setup(t, { request_limits: { max_cost_usd: 0.01 } });
  // gpt-5: 128 000 output tokens x 10.00 / 1M = $1.28 worst case; compaction takes no output cap.
  const r = await request(`${proxy.url}/v1/responses/compact`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify({ model: 'gpt-5', previous_response_id: 'resp_1' }),
  });
  assertDenied(r, 'request_cost');
  assert.match(JSON.parse(r.text).error.message, /\(request_limits\.max_cost_usd\)\. Send less input\.$/);
  assert.equal(up.requests.length, 0);
  await proxy.stopClean();
});

test('openai SDK background responses: a queued create is charged its worst case (estimated), a streamed run to completion exactly, retrieval nothing; a used-up hard budget refuses the next run', async (t) => {
  const { up, proxy, client } = await setup(t, {
    budgets: [{ name: 'org', scope: 'global', period: 'day', limit_usd: 2.5, mode: 'hard' }],
  });
  const ledger = ledgerPathOf(proxy);
  const create = { model: 'o3', input: 'research this deeply', background: true, max_output_tokens: 100000 };

  // 1. Streamed to response.completed: the provider's usage, exactly ($0.402).
  const stream = await client.responses.create({ ...create, stream: true });
  const types = [];
  for await (const event of stream) types.push(event.type);
  assert.equal(types.at(-1), 'response.completed');
  let lines = await waitForLedger(ledger, 1, { what: 'streamed background run' });
  assert.equal(lines[0].json.usage_source, 'provider', lines[0].raw);
  assertCost(lines[0], '0.402', [[1000, O3.input], [50000, O3.output]]);

  // 2. Queued, usage null: the worst case, flagged estimated, with the bound's tokens.
  const queued = await client.responses.create(create).withResponse();
  assert.equal(queued.data.status, 'queued');
  const bodyBytes = up.requests.at(-1).body.length;
  const worst = worstCase(bodyBytes, 100000, O3);
  lines = await waitForLedger(ledger, 2, { what: 'queued background run' });
  const charged = lines[1];
  assert.equal(charged.json.usage_source, 'estimated', charged.raw);
  assert.equal(charged.json.input_tokens, bodyBytes, charged.raw);
  assert.equal(charged.json.output_tokens, 100000, charged.raw);
  assertCost(charged, picoToUsd(worst));
  assert.equal(queued.response.headers.get('x-spendgate-cost-usd'), picoToUsd(worst));

  // 3. Retrieving it stays free: charging it too would count the run twice.
  const got = await client.responses.retrieve('resp_bg');
  assert.equal(got.status, 'completed');
  lines = await waitForLedger(ledger, 3, { what: 'retrieval' });
  assert.equal(lines[2].json.price_source, 'unmetered', lines[2].raw);
  assert.equal(lines[2].json.cost_usd, 0, lines[2].raw);

  // 4. A streamed background run the upstream cuts before its final event: the worst case too.
  const before = up.requests.length;
  const cut = await client.responses.create({ ...create, stream: true }, { headers: { 'x-test-cut': 'yes' } });
  for await (const event of cut) void event;
  assert.equal(up.requests.length, before + 1, 'the cut run was forwarded');
  lines = await waitForLedger(ledger, 4, { what: 'cut background stream' });
  const cutBytes = up.requests.at(-1).body.length;
  assert.equal(lines[3].json.usage_source, 'estimated', lines[3].raw);
  assert.equal(lines[3].json.output_tokens, 100000, lines[3].raw);
  assertCost(lines[3], picoToUsd(worstCase(cutBytes, 100000, O3)));

  // Spent ~0.402 + 2 x ~0.8 = ~2.0; one more worst case (~0.8) would pass the $2.5 limit, so the
  // next background run is refused (with input-only estimates, spent would be ~0.4).
  const b = await adminBudget(proxy.adminUrl, 'org');
  assert.equal(b.reserved_usd, 0);
  const forwarded = up.requests.length;
  const err = await client.responses.create(create).then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `expected RateLimitError, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.code, 'budget_exceeded');
  assert.equal(up.requests.length, forwarded, 'the refused run was not forwarded');
  await proxy.stopClean();
});
