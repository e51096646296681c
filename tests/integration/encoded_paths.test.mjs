// Percent-encoded and dot-segment paths (docs/metering.md "How the path is read"): a metered call
// spelled `%3AgenerateContent` or `chat%2Fcompletions` is metered and enforced like the plain
// spelling, and forwarded exactly as the client sent it; a path that upstreams may read in different
// ways (a bad escape, or one that decodes under another provider route) is refused with 400.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json } from './lib/fake_upstream.mjs';
import { postJson } from './lib/http.mjs';
import { ledgerPathOf, waitForEntry, readLedger, assertCost, assertCostHeader, assertFields } from './lib/ledger.mjs';
import { assertDenied } from './lib/enforcement.mjs';
import { assertProxyError } from './lib/errors.mjs';

// 1200 prompt (1000 cached) + 300 candidates + 700 thoughts on gemini-2.5-flash (input 0.30,
// cached 0.03, output 2.50 per 1M): 200 × 0.30 + 1000 × 0.03 + 1000 × 2.50 = 2590 per 1M.
const GEMINI_ANSWER = {
  candidates: [{ content: { parts: [{ text: 'Hi!' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
  usageMetadata: { promptTokenCount: 1200, cachedContentTokenCount: 1000, candidatesTokenCount: 300, thoughtsTokenCount: 700, totalTokenCount: 2200 },
  modelVersion: 'gemini-2.5-flash', responseId: 'B94hXk1',
};
const GEMINI_COST = '0.00259';
const GEMINI_BODY = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generationConfig: { maxOutputTokens: 16 } };

async function setup(t, extra) {
  const up = await startUpstream({ handler: async (req, res) => json(res, 200, GEMINI_ANSWER) });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    extra,
  });
  return { up, proxy, ledger: ledgerPathOf(proxy) };
}

/** A POST whose path goes out byte for byte (a URL string would have its dot segments resolved). */
function postRawPath(proxy, path, body, headers) {
  const { hostname, port } = new URL(proxy.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path, method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test('a percent-encoded Gemini method is metered at its real cost and forwarded as sent', async (t) => {
  const { up, proxy, ledger } = await setup(t);
  const path = '/v1beta/models/gemini-2.5-flash%3AgenerateContent';
  const res = await postJson(`${proxy.url}${path}`, GEMINI_BODY, { 'x-goog-api-key': 'gm-test' });
  assert.equal(res.status, 200, res.text);
  assert.equal(up.requests[0].url, path, 'forwarded with the path exactly as the client sent it');
  assertCostHeader(res.headers['x-spendgate-cost-usd'], GEMINI_COST);
  const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
  assertFields(e, {
    provider: 'gemini', requested_model: 'gemini-2.5-flash', status: 200,
    input_tokens: 1200, output_tokens: 1000, usage_source: 'provider',
  });
  assert.notEqual(e.json.price_source, 'unmetered');
  assertCost(e, GEMINI_COST, [[200, '0.30'], [1000, '0.03'], [1000, '2.50']]);
  await proxy.stopClean();
});

test('a used-up hard budget refuses the percent-encoded Gemini call with the 429 budget denial', async (t) => {
  const { up, proxy, ledger } = await setup(t, {
    budgets: [{ name: 'team-daily', scope: 'team', match: { team: 'broke' }, period: 'day', limit_usd: 0.001, mode: 'hard' }],
  });
  const headers = { 'x-goog-api-key': 'gm-test', 'x-spendgate-team': 'broke' };
  // Its worst case fits; the answer's real cost ($0.00259) then uses the budget up.
  const first = await postJson(`${proxy.url}/v1beta/models/gemini-2.5-flash:generateContent`, GEMINI_BODY, headers);
  assert.equal(first.status, 200, first.text);
  await waitForEntry(ledger, first.headers['x-spendgate-request-id']);
  for (const path of ['/v1beta/models/gemini-2.5-flash%3AgenerateContent',
    '/v1beta/models/gemini-2.5-flash%3astreamGenerateContent?alt=sse',
    '/v1beta/models%2Fgemini-2.5-flash%253AgenerateContent']) {
    assertDenied(await postJson(`${proxy.url}${path}`, GEMINI_BODY, headers), 'budget', { format: 'gemini', what: path });
  }
  assert.equal(up.requests.length, 1, 'a denied request never reaches the upstream');
  assert.equal(readLedger(ledger).length, 1);
  await proxy.stopClean();
});

test('a path that decodes badly or under another provider route is refused with 400', async (t) => {
  const { up, proxy } = await setup(t);
  const gemini = { 'x-goog-api-key': 'gm-test' };
  for (const path of ['/v1beta/models/gemini-2.5-flash%3zgenerateContent',
    '/v1beta/models/gemini-2.5-flash%00:generateContent',
    '/v1beta/../../v1beta/models/gemini-2.5-flash:generateContent',
    // A fragment in a request target: one server drops it, another reads it as part of a name.
    '/v1beta/models/gemini-2.5-flash:generateContent#x',
    // Routed to Gemini as sent; to OpenAI once decoded.
    '/v1beta/..%2Fv1/chat/completions']) {
    const res = await postRawPath(proxy, path, GEMINI_BODY, gemini);
    assertProxyError(res, 'gemini', 400, path);
    assert.match(JSON.parse(res.text).error.message, /ambiguous request path/, path);
  }
  // Decoded under the same route: forwarded as sent.
  const fine = await postRawPath(proxy, '/v1beta/models/x/../gemini-2.5-flash:generateContent', GEMINI_BODY, gemini);
  assert.equal(fine.status, 200, fine.text);
  assert.equal(up.requests.length, 1);
  assert.equal(up.requests[0].url, '/v1beta/models/x/../gemini-2.5-flash:generateContent');
  await proxy.stopClean();
});
