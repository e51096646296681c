// A fresh process shows spendgate_denied_total at 0 for every reason of SPEC §4's table, so
// Prometheus rate() and alerts work before the first denial.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy, providers } from './lib/proxy.mjs';
import { admin } from './lib/enforcement.mjs';

const REASONS = ['emergency_stop', 'unknown_key', 'request_cost', 'rate_limit', 'budget', 'store_unavailable', 'unknown_model'];

test('a fresh /metrics has spendgate_denied_total at 0 for every SPEC §4 reason', async (t) => {
  const proxy = await startProxy(t, { providers: await providers() });
  const r = await admin(proxy.adminUrl, 'GET', '/metrics');
  assert.equal(r.status, 200, r.text);
  const series = r.text.split('\n').filter((l) => l.startsWith('spendgate_denied_total{'));
  assert.deepEqual(series.sort(), REASONS.map((x) => `spendgate_denied_total{reason="${x}"} 0`).sort(), r.text);
  await proxy.stopClean();
});
