// Spend and budget reports (SPEC §1 `spendgate spend`, `spendgate budgets`; §5 GET /admin/spend,
// GET /admin/budgets): what the admin API and the CLI report equals the ledger's sums exactly, and
// a budget shows its spent, reserved and remaining amounts while a request is in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startProxy, providers, runCli, closedPort } from './lib/proxy.mjs';
import { startUpstream, json } from './lib/fake_upstream.mjs';
import { request } from './lib/http.mjs';
import { ledgerPathOf, waitForLedger, rawMember, usdToPico, picoToUsd, sha256hex } from './lib/ledger.mjs';
import { chatCompletion, chatUsage } from './lib/openai_stream.mjs';

const ADMIN_TOKEN = `adm-${randomBytes(8).toString('hex')}`;
const KEYS = {
  alpha: `sg-vk-${randomBytes(16).toString('hex')}`,
  beta: `sg-vk-${randomBytes(16).toString('hex')}`,
};
const DAILY_LIMIT = '5';

// Usage per model, so the groups differ in spend and tokens.
const USAGE = {
  'gpt-4o-mini': { prompt: 1000, cached: 400, completion: 200 },
  'gpt-4o': { prompt: 300, cached: 0, completion: 50 },
  'gpt-4.1-nano': { prompt: 64, cached: 0, completion: 8 },
};

function upstream() {
  let release = null;
  const held = [];
  const handler = async (req, res, rec) => {
    const body = JSON.parse(rec.body.toString() || '{}');
    if (req.url !== '/v1/chat/completions') return json(res, 404, { error: { message: 'no', type: 'x', param: null, code: null } });
    if (req.headers['x-test-hold']) {
      held.push(rec);
      await new Promise((resolve) => { release = resolve; });
    }
    const u = USAGE[body.model];
    return json(res, 200, chatCompletion({ model: body.model, usage: chatUsage(u) }));
  };
  return { handler, held, release: () => release?.() };
}

async function admin(proxy, path, { token = ADMIN_TOKEN } = {}) {
  const res = await request(`${proxy.adminUrl}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return res;
}

const cli = (proxy, args) => runCli(args, { env: { SPENDGATE_ADMIN_TOKEN: ADMIN_TOKEN, SPENDGATE_ADMIN_URL: proxy.adminUrl } });

function chat(proxy, keyName, model, extraHeaders = {}) {
  return request(`${proxy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEYS[keyName]}`, 'content-type': 'application/json', ...extraHeaders },
    body: JSON.stringify({ model, max_tokens: 300, messages: [{ role: 'user', content: 'hi' }] }),
  });
}

// Ledger sums per value of `field`: { value: { pico, requests, input, cached, output } }.
function ledgerSums(lines, field) {
  const sums = {};
  for (const { raw, json: j } of lines) {
    const s = (sums[j[field]] ??= { pico: 0n, requests: 0, input: 0, cached: 0, output: 0 });
    s.pico += usdToPico(rawMember(raw, 'cost_usd'));
    s.requests += 1;
    s.input += j.input_tokens;
    s.cached += j.cached_input_tokens;
    s.output += j.output_tokens;
  }
  return sums;
}

// JSON numbers are written as exact decimals; a JS number prints back the same digits.
const pico = (n) => usdToPico(String(n));

function assertReportMatchesLedger(report, lines, field, what) {
  const sums = ledgerSums(lines, field);
  const total = Object.values(sums).reduce((a, s) => a + s.pico, 0n);
  assert.equal(picoToUsd(pico(report.total_usd)), picoToUsd(total), `${what}: total_usd`);
  assert.equal(report.requests, lines.length, `${what}: requests`);
  assert.deepEqual(
    Object.fromEntries(report.groups.map((g) => [g.key, {
      pico: pico(g.spend_usd), requests: g.requests, input: g.input_tokens, cached: g.cached_input_tokens, output: g.output_tokens,
    }])),
    sums, `${what}: groups`);
  const spends = report.groups.map((g) => g.spend_usd);
  assert.deepEqual(spends, [...spends].sort((a, b) => b - a), `${what}: groups sorted by spend desc`);
}

test('spend and budget reports equal the ledger; the CLI prints them', async (t) => {
  const up = upstream();
  const fake = await startUpstream({ handler: up.handler });
  t.after(() => { up.release(); return fake.close(); });
  const proxy = await startProxy(t, {
    providers: await providers({ openai: fake.url }, { openai: { api_key_env: 'SG_IT_OPENAI_KEY' } }),
    admin: { listen: '127.0.0.1:0', token_env: 'SG_IT_ADMIN_TOKEN' },
    env: { SG_IT_OPENAI_KEY: 'sk-real', SG_IT_ADMIN_TOKEN: ADMIN_TOKEN },
    extra: {
      identity: {
        virtual_keys: [
          { id: 'alpha', key_sha256: sha256hex(KEYS.alpha), team: 'search', user: 'alice' },
          { id: 'beta', key_sha256: sha256hex(KEYS.beta), team: 'ads' },
        ],
        passthrough: false,
      },
      budgets: [
        { name: 'daily-all', scope: 'global', period: 'day', limit_usd: Number(DAILY_LIMIT), mode: 'hard' },
        { name: 'per-key', scope: 'key', period: 'month', limit_usd: 1, mode: 'soft' },
        { name: 'unused-weekly', scope: 'global', match: { model: 'o3*' }, period: 'week', limit_usd: 2, mode: 'hard' },
      ],
    },
  });
  await proxy.waitForAdmin();
  const ledger = ledgerPathOf(proxy);

  // Before any request: the admin API answers an empty report, and lists the configured global
  // budgets at zero.
  let res = await admin(proxy, '/admin/spend');
  assert.equal(res.status, 200, `GET /admin/spend: ${res.status} ${res.text} (is the route wired in admin_server.cpp?)`);
  let report = res.json();
  assert.deepEqual(Object.keys(report), ['period', 'from', 'to', 'total_usd', 'requests', 'groups']);
  assert.equal(report.period, 'day');
  assert.equal(report.requests, 0);
  assert.deepEqual(report.groups, []);
  const today = new Date(); today.setUTCHours(0, 0, 0, 0);
  assert.equal(Date.parse(report.from), today.getTime(), `from ${report.from}`);
  assert.equal(Date.parse(report.to) - Date.parse(report.from), 86_400_000);
  assert.match(report.from, /^\d{4}-\d\d-\d\dT00:00:00(\.000)?Z$/);

  // A few requests: 3 models, 2 keys.
  const plan = [
    ['alpha', 'gpt-4o-mini'], ['alpha', 'gpt-4o-mini'], ['beta', 'gpt-4o-mini'],
    ['alpha', 'gpt-4o'], ['beta', 'gpt-4o'], ['beta', 'gpt-4.1-nano'], ['alpha', 'gpt-4.1-nano'],
  ];
  for (const [key, model] of plan) {
    const r = await chat(proxy, key, model);
    assert.equal(r.status, 200, `${key} ${model}: ${r.status} ${r.text}`);
  }
  const lines = await waitForLedger(ledger, plan.length);
  assert.ok(lines.every((l) => BigInt(usdToPico(rawMember(l.raw, 'cost_usd'))) > 0n), 'every request has a cost');

  // GET /admin/spend by every dimension equals the ledger's sums, to the picodollar.
  for (const [by, field] of [['model', 'model'], ['key', 'key'], ['team', 'team'], ['user', 'user'], ['provider', 'provider']]) {
    for (const period of ['day', 'week', 'month']) {
      res = await admin(proxy, `/admin/spend?by=${by}&period=${period}`);
      assert.equal(res.status, 200, res.text);
      report = res.json();
      assert.equal(report.period, period);
      assertReportMatchesLedger(report, lines, field, `by=${by} period=${period}`);
    }
  }
  res = await admin(proxy, '/admin/spend?by=model');
  const byModel = res.json();
  // gpt-4o: 2 x 0.00125, gpt-4o-mini: 3 x 0.00024, gpt-4.1-nano: 2 x 0.0000096.
  assert.deepEqual(byModel.groups.map((g) => [g.key, g.spend_usd, g.requests]),
    [['gpt-4o', 0.0025, 2], ['gpt-4o-mini', 0.00072, 3], ['gpt-4.1-nano', 0.0000192, 2]]);

  // Bad queries: 400 with a clear message; no token: 401.
  res = await admin(proxy, '/admin/spend?by=colour');
  assert.equal(res.status, 400);
  assert.match(res.json().error, /by must be one of provider, model, key, user, team, customer, agent/);
  res = await admin(proxy, '/admin/spend?period=year');
  assert.equal(res.status, 400);
  assert.match(res.json().error, /period must be one of/);
  res = await admin(proxy, '/admin/spend', { token: null });
  assert.equal(res.status, 401);

  // spendgate spend --json answers what the API answers; the table shows the same groups.
  let run = cli(proxy, ['spend', '--by', 'model', '--json']);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), byModel);
  run = cli(proxy, ['spend', '--by', 'key']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^Spend by key, this day/);
  assert.match(run.stdout, /^KEY\s+SPEND_USD\s+SHARE\s+REQUESTS\s+INPUT\s+CACHED\s+OUTPUT$/m);
  const keySums = ledgerSums(lines, 'key');
  for (const id of ['alpha', 'beta']) {
    const row = run.stdout.split('\n').find((l) => l.startsWith(`${id} `));
    assert.ok(row, `no row for ${id}:\n${run.stdout}`);
    assert.equal(Number(row.trim().split(/\s+/)[3]), keySums[id].requests, row);
  }
  assert.match(run.stdout, new RegExp(`^TOTAL\\s+\\S+\\s+100\\.0%\\s+${plan.length}\\s`, 'm'));
  run = cli(proxy, ['spend', '--by', 'colour']);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /--by must be one of/);
  run = runCli(['spend', '--json'], { env: { SPENDGATE_ADMIN_TOKEN: 'wrong', SPENDGATE_ADMIN_URL: proxy.adminUrl } });
  assert.equal(run.code, 1, 'a 401 is a user error');
  assert.match(run.stderr, /401/);
  run = runCli(['spend', '--admin', `http://127.0.0.1:${await closedPort()}`], { env: { SPENDGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  assert.equal(run.code, 2, 'unreachable admin API');
  assert.match(run.stderr, /cannot reach the admin API/);

  // GET /admin/budgets: the live counters.
  res = await admin(proxy, '/admin/budgets');
  assert.equal(res.status, 200, `GET /admin/budgets: ${res.status} ${res.text}`);
  let budgets = res.json();
  const total = Object.values(keySums).reduce((a, s) => a + s.pico, 0n);
  const fields = ['name', 'scope', 'subject', 'period', 'period_start', 'period_end', 'limit_usd', 'spent_usd',
    'reserved_usd', 'remaining_usd', 'used_ratio', 'projected_usd', 'mode'];
  for (const b of budgets) assert.deepEqual(Object.keys(b), fields);
  assert.deepEqual(budgets.map((b) => `${b.name}/${b.subject}`),
    ['daily-all/', 'per-key/alpha', 'per-key/beta', 'unused-weekly/']);
  let daily = budgets[0];
  assert.equal(daily.scope, 'global');
  assert.equal(daily.period, 'day');
  assert.equal(daily.mode, 'hard');
  assert.equal(Date.parse(daily.period_start), today.getTime());
  assert.equal(Date.parse(daily.period_end), today.getTime() + 86_400_000);
  assert.equal(picoToUsd(pico(daily.spent_usd)), picoToUsd(total));
  assert.equal(daily.reserved_usd, 0);
  assert.equal(picoToUsd(pico(daily.remaining_usd)), picoToUsd(usdToPico(DAILY_LIMIT) - total));
  assert.ok(Math.abs(daily.used_ratio - Number(picoToUsd(total)) / Number(DAILY_LIMIT)) < 1e-6, `used_ratio ${daily.used_ratio}`);
  assert.ok(daily.projected_usd >= daily.spent_usd, 'projected_usd >= spent_usd');
  for (const id of ['alpha', 'beta']) {
    const b = budgets.find((x) => x.name === 'per-key' && x.subject === id);
    assert.equal(b.scope, 'key');
    assert.equal(b.mode, 'soft');
    assert.equal(picoToUsd(pico(b.spent_usd)), picoToUsd(keySums[id].pico), `per-key/${id} spent`);
    assert.equal(b.reserved_usd, 0, 'soft budgets never reserve');
  }
  const unused = budgets[3];
  assert.equal(unused.spent_usd, 0);
  assert.equal(unused.remaining_usd, 2);

  // A request in flight holds a reservation on the hard budget.
  const inflight = chat(proxy, 'alpha', 'gpt-4o', { 'x-test-hold': '1' });
  const deadline = Date.now() + 5000;
  while (up.held.length === 0) {
    assert.ok(Date.now() < deadline, 'held request never reached the upstream');
    await new Promise((r) => setTimeout(r, 10));
  }
  budgets = (await admin(proxy, '/admin/budgets')).json();
  daily = budgets[0];
  assert.ok(daily.reserved_usd > 0, `reserved while in flight: ${JSON.stringify(daily)}`);
  assert.equal(picoToUsd(pico(daily.remaining_usd)),
    picoToUsd(usdToPico(DAILY_LIMIT) - total - pico(daily.reserved_usd)), 'remaining = limit - spent - reserved');

  // spendgate budgets while it is in flight: a readable table.
  run = cli(proxy, ['budgets']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^NAME\s+SCOPE\s+SUBJECT\s+PERIOD\s+SPENT_USD\s+RESERVED_USD\s+LIMIT_USD\s+USED\s+PROJECTED_USD\s+MODE\s+RESETS_AT$/m);
  assert.match(run.stdout, /^daily-all\s+global\s+\(all\)\s+day\s+[\d.]+\s+[\d.]+\s+5\.0+\s+<?[\d.]+%\s+[\d.]+\s+hard\s+\d{4}-\d\d-\d\dT00:00:00Z \(in /m);
  assert.match(run.stdout, /^per-key\s+key\s+alpha\s+month\s/m);

  up.release();
  const r = await inflight;
  assert.equal(r.status, 200);
  const after = await waitForLedger(ledger, plan.length + 1);
  budgets = (await admin(proxy, '/admin/budgets')).json();
  assert.equal(budgets[0].reserved_usd, 0, 'reservation released when settled');
  const totalAfter = Object.values(ledgerSums(after, 'key')).reduce((a, s) => a + s.pico, 0n);
  assert.equal(picoToUsd(pico(budgets[0].spent_usd)), picoToUsd(totalAfter));

  run = cli(proxy, ['budgets', '--json']);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout).map((b) => [b.name, b.subject, b.spent_usd, b.reserved_usd]),
    budgets.map((b) => [b.name, b.subject, b.spent_usd, b.reserved_usd]));

  // The spend report followed the settled request too.
  report = (await admin(proxy, '/admin/spend?by=model')).json();
  assertReportMatchesLedger(report, after, 'model', 'after the held request');

  await proxy.stopClean();
});
