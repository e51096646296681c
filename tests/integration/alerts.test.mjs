// Alerts as users see them (docs/alerts.md): GET /admin/alerts and the webhook body carry money and
// ratios as plain decimal numbers (SPEC §5 "Money in JSON is a number of USD"), never "1E-2"; the
// text shows small amounts with enough digits; a total budget's text never promises a reset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json, sleep } from './lib/fake_upstream.mjs';
import { request } from './lib/http.mjs';
import { startMeteredUpstream, chatBody, chat } from './lib/enforcement.mjs';

/** A JSON number written with an exponent, outside strings. */
const EXPONENT = /[:,[]\s*-?[0-9.]+[eE][-+]?[0-9]+/;
const withoutStrings = (text) => text.replace(/"(\\.|[^"\\])*"/g, '""');

async function waitFor(pred, what, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await pred();
    if (value) return value;
    assert.ok(Date.now() < deadline, `${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

test('a $0.01 total budget: /admin/alerts and the webhook body hold plain decimals; the text shows $0.0075 and says the budget never resets', async (t) => {
  // gpt-4o-mini: 10000 x $0.15/M + 10000 x $0.60/M = $0.0075 per request.
  const up = await startMeteredUpstream(t, { usage: () => ({ prompt: 10000, completion: 10000 }) });
  const hook = await startUpstream({ handler: (req, res) => json(res, 200, { ok: true }) });
  t.after(() => hook.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url }),
    extra: {
      budgets: [{ name: 'tiny', scope: 'global', period: 'total', limit_usd: 0.01, mode: 'hard', alert_at: [0.5, 1.0] }],
      alerts: { sinks: [{ type: 'webhook', url: `${hook.url}/hook` }] },
    },
  });
  await proxy.waitForAdmin();

  // The first request crosses 50 % ($0.0075); the second (its worst case still fits) passes 100 %.
  for (let i = 0; i < 2; i++) assert.equal((await chat(proxy.url, chatBody())).status, 200, `request ${i + 1}`);
  const text = await waitFor(async () => {
    const res = await request(`${proxy.adminUrl}/admin/alerts`);
    return res.json().filter((a) => a.kind === 'budget_threshold').length === 2 && res.text;
  }, 'two threshold alerts');
  await waitFor(() => hook.requests.length >= 2, 'two webhook deliveries');

  assert.doesNotMatch(withoutStrings(text), EXPONENT, `GET /admin/alerts: ${text}`);
  const [exceeded, half] = JSON.parse(text);
  assert.deepEqual(
    { ...half.details, period_start: undefined },
    { budget: 'tiny', scope: 'global', subject: '', period: 'total', period_start: undefined, period_end: null,
      limit_usd: 0.01, spent_usd: 0.0075, reserved_usd: 0, used_ratio: 0.75, mode: 'hard', threshold: 0.5 });
  assert.match(text, /"limit_usd":0\.01,"spent_usd":0\.0075,"reserved_usd":0,"used_ratio":0\.75,/);
  assert.equal(half.message, 'Budget tiny: $0.0075 spent of $0.01 (75%) in total (this budget never resets).');
  assert.equal(exceeded.details.spent_usd, 0.015);
  assert.equal(exceeded.details.used_ratio, 1.5);
  assert.match(exceeded.message, /^Budget tiny: \$0\.015 spent of \$0\.01 \(150%\) in total \(this budget never resets\)\. Hard budget: requests charged to it are refused from now on; only a higher limit_usd lets them through\.$/);
  assert.doesNotMatch(exceeded.message, /period resets/);

  for (const r of hook.requests) {
    const body = r.body.toString();
    assert.doesNotMatch(withoutStrings(body), EXPONENT, `webhook body: ${body}`);
    const alert = JSON.parse(body);
    assert.equal(alert.source, 'spendgate');
    assert.equal(alert.details.limit_usd, 0.01, body);
  }
  await proxy.stopClean();
});
