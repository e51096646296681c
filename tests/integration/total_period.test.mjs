// A `period: total` budget never ends: period_end is null in /admin/budgets and `spendgate budgets`
// says "never" under RESETS_AT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy, providers, runCli } from './lib/proxy.mjs';
import { adminBudget } from './lib/enforcement.mjs';

test('period: total budgets: period_end null in /admin/budgets, RESETS_AT "never" in spendgate budgets; a day budget keeps its end', async (t) => {
  const proxy = await startProxy(t, {
    providers: await providers(),
    extra: {
      budgets: [
        { name: 'lifetime', scope: 'global', period: 'total', limit_usd: 100, mode: 'hard' },
        { name: 'daily', scope: 'global', period: 'day', limit_usd: 5, mode: 'hard' },
      ],
    },
  });
  const lifetime = await adminBudget(proxy.adminUrl, 'lifetime');
  assert.equal(lifetime.period_end, null, JSON.stringify(lifetime));
  assert.equal(lifetime.period_start, '1970-01-01T00:00:00.000Z');
  const daily = await adminBudget(proxy.adminUrl, 'daily');
  assert.equal(typeof daily.period_end, 'string');
  assert.equal(Date.parse(daily.period_end) - Date.parse(daily.period_start), 86_400_000);

  const run = runCli(['budgets', '--admin', proxy.adminUrl]);
  assert.equal(run.code, 0, run.stderr);
  const row = run.stdout.split('\n').find((l) => l.startsWith('lifetime'));
  assert.ok(row, run.stdout);
  assert.match(row, /\bnever$/, row);
  assert.doesNotMatch(run.stdout, /2200/, run.stdout);
  await proxy.stopClean();
});
