// A request model answered as a dearer catalog entry (audit 16 H1, docs/metering.md §7): an Azure
// deployment of gpt-4o 2024-05-13 mapped to `gpt-4o` answers "model": "gpt-4o-2024-05-13", priced
// at 5/15 per 1M (catalog:exact-response) while the worst case was priced at gpt-4o's 2.50/10.
// The first such answer of a process settles above its reservation (documented); afterwards the
// process bounds that provider's gpt-4o requests at the dearer rates, so max_cost_usd and hard
// budgets hold again. Rates from config/pricing.yaml.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json } from './lib/fake_upstream.mjs';
import { chatCompletion, chatUsage } from './lib/openai_stream.mjs';
import { ledgerPathOf, waitForLedger, perMillion, picoToUsd, usdToPico } from './lib/ledger.mjs';
import { gate, adminBudget, pollUntil } from './lib/enforcement.mjs';

const ANSWERED = 'gpt-4o-2024-05-13';
const MAX_TOKENS = 1000;
// The answer's usage: 9 in, 1000 out at 5/15 = $0.015045 (at gpt-4o's 2.50/10 it would be $0.0100225).
const COST = perMillion(9, '5.00') + perMillion(MAX_TOKENS, '15.00');
const worstAt = (bodyBytes, input, output) => perMillion(bodyBytes, input) + perMillion(MAX_TOKENS, output);

/** An OpenAI/Azure upstream answering every chat call as gpt-4o-2024-05-13; `hold(i)` may delay answer i. */
async function startSnapshotUpstream(t, hold = () => null) {
  let n = 0;
  const up = await startUpstream({
    handler: async (req, res) => {
      const wait = hold(n++);
      if (wait) await wait;
      json(res, 200, chatCompletion({ model: ANSWERED, usage: chatUsage({ prompt: 9, completion: MAX_TOKENS }) }));
    },
  });
  t.after(() => up.close());
  return up;
}

const warnings = (proxy) => (proxy.stdout + proxy.stderr).split('\n').filter((l) => l.includes(`request as ${ANSWERED}`));

test('Azure deployment mapped to gpt-4o answered as gpt-4o-2024-05-13: the first call passes max_cost_usd (documented), later ones are checked at 5/15', async (t) => {
  const up = await startSnapshotUpstream(t);
  const proxy = await startProxy(t, {
    providers: {
      ...(await providers({ openai: up.url })),
      myazure: { format: 'azure', base_url: up.url, routes: ['/openai/'], api_key_env: '', deployments: { 'prod-4o': 'gpt-4o' } },
    },
    extra: { request_limits: { max_cost_usd: 0.011 } },
  });
  const ledger = ledgerPathOf(proxy);
  const client = new OpenAI({ apiKey: 'az-test', baseURL: `${proxy.url}/openai/v1`, maxRetries: 0 });
  const ask = (maxTokens = MAX_TOKENS) => client.chat.completions
    .create({ model: 'prod-4o', max_tokens: maxTokens, messages: [{ role: 'user', content: 'hi' }] }).withResponse();

  // First call: its worst case at gpt-4o (~$0.0102) passes the $0.011 limit; it settles at 5/15.
  const { response: r1 } = await ask();
  const bodyBytes = up.requests[0].body.length;
  assert.ok(worstAt(bodyBytes, '2.50', '10.00') <= usdToPico('0.011'), 'test setup: the first call passes max_cost_usd');
  assert.equal(r1.headers.get('x-spendgate-cost-usd'), picoToUsd(COST));
  const [{ json: e1 }] = await waitForLedger(ledger, 1);
  assert.equal(e1.model, ANSWERED);
  assert.equal(e1.requested_model, 'gpt-4o');
  assert.equal(e1.price_source, 'catalog:exact-response');

  // Second call: the worst case is priced at 5/15 now, above the limit: refused, named.
  const err = await ask().then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.BadRequestError, `expected a request_cost refusal, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.code, 'request_cost_limit_exceeded');
  const worst = worstAt(bodyBytes, '5.00', '15.00');
  assert.ok(err.message.includes(`$${picoToUsd(worst)}`), `the message names the estimate at 5/15, $${picoToUsd(worst)}: ${err.message}`);
  assert.ok(err.message.includes('$0.011'), err.message);
  assert.equal(up.requests.length, 1, 'the refused call never reached the upstream');
  // Said in the log, with what to do about it (the log is written on its own thread).
  await pollUntil(() => warnings(proxy).length > 0, { what: `the warning:\n${proxy.stderr}` });
  assert.match(warnings(proxy)[0], /map the deployment or model to the exact name gpt-4o-2024-05-13/);

  // A call whose worst case at 5/15 fits still passes.
  const { response: r3 } = await ask(100);
  assert.equal(r3.status, 200);
  await proxy.stopClean();
  assert.equal(warnings(proxy).length, 1, `warned once per provider, request model and answered model:\n${proxy.stderr}`);
});

test('hard budget, gpt-4o answered as gpt-4o-2024-05-13: after the first answer the reservation is priced at 5/15 and spent never passes the limit', async (t) => {
  const TOKEN = 'served-model-admin';
  const slow = gate();
  const up = await startSnapshotUpstream(t, (i) => (i === 1 ? slow : null));
  // $0.042: two calls at $0.015045 fit; a third does not at 5/15 ($0.03009 + ~$0.0154), but would
  // at gpt-4o's rates ($0.03009 + ~$0.0102) and then settle at $0.045135, past the limit.
  const limit = '0.042';
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url }),
    env: { SPENDGATE_ADMIN_TOKEN: TOKEN },
    admin: { listen: '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' },
    extra: { budgets: [{ name: 'cap', scope: 'global', period: 'day', limit_usd: Number(limit), mode: 'hard' }] },
  });
  const ledger = ledgerPathOf(proxy);
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0 });
  const ask = () => client.chat.completions
    .create({ model: 'gpt-4o', max_tokens: MAX_TOKENS, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  const budget = () => adminBudget(proxy.adminUrl, 'cap', TOKEN);

  const { response: r1 } = await ask();
  assert.equal(r1.headers.get('x-spendgate-cost-usd'), picoToUsd(COST), 'the first call settles at 5/15 (above its reservation at 2.50/10)');
  const bodyBytes = up.requests[0].body.length;
  assert.equal(usdToPico(String((await budget()).spent_usd)), COST);

  // The second call's reservation, while its answer is held, is its worst case at 5/15.
  const second = ask();
  const { value: held } = await pollUntil(async () => {
    const b = await budget();
    return b.reserved_usd > 0 ? b : null;
  }, { what: 'the second call to be reserved' });
  const worst = worstAt(bodyBytes, '5.00', '15.00');
  assert.equal(usdToPico(String(held.reserved_usd)), worst,
    `reserved $${held.reserved_usd}, want the worst case at 5/15 $${picoToUsd(worst)} (at 2.50/10: $${picoToUsd(worstAt(bodyBytes, '2.50', '10.00'))})`);
  slow.open();
  assert.equal((await second).response.status, 200);
  await waitForLedger(ledger, 2);
  assert.equal(usdToPico(String((await budget()).spent_usd)), 2n * COST);

  // Third call: $0.03009 spent + its worst case at 5/15 does not fit in $0.042: refused.
  const err = await ask().then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `expected a budget refusal, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.code, 'budget_exceeded');
  const after = await budget();
  assert.ok(usdToPico(String(after.spent_usd)) <= usdToPico(limit), `spent $${after.spent_usd} passed the $${limit} limit`);
  assert.equal(up.requests.length, 2);
  await proxy.stopClean();
});
