// Which budgets GET /admin/budgets, `spendgate budgets` and the spendgate_budget_* metrics list
// (SPEC §1, §5, §7; docs/enforcement.md "What the budget list shows"): every budget whose subject
// the config fixes (scope: global, or a literal match on the scope's own dimension) from the
// start, at zero; open subjects once used; removed budgets gone after a reload. And, on Redis with
// leased slices, reserved_usd includes the slices so spent + reserved + remaining = limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { startProxy, providers, runCli } from './lib/proxy.mjs';
import { sleep } from './lib/fake_upstream.mjs';
import { request } from './lib/http.mjs';
import { toYaml } from './lib/yaml.mjs';
import { ledgerPathOf, waitForLedger, rawMember, usdToPico, picoToUsd, sha256hex } from './lib/ledger.mjs';
import { startMeteredUpstream, chat, chatBody, ledgerSumPico } from './lib/enforcement.mjs';
import { startRedis, redisAvailable } from './lib/redis.mjs';

const NO_REDIS = redisAvailable() ? false : 'redis-server not installed';
const ADMIN_TOKEN = `adm-${randomBytes(8).toString('hex')}`;
const KEYS = { k2: `sg-vk-${randomBytes(16).toString('hex')}`, k3: `sg-vk-${randomBytes(16).toString('hex')}` };
const ORG = { name: 'org-daily', scope: 'global', period: 'day', limit_usd: 500, mode: 'hard' };
const K2 = { name: 'k2-monthly', scope: 'key', match: { key: 'k2' }, period: 'month', limit_usd: 50, mode: 'hard' };
const PER_KEY = { name: 'per-key', scope: 'key', period: 'day', limit_usd: 10, mode: 'soft' };

function extraConfig(budgets, store) {
  return {
    identity: {
      virtual_keys: Object.entries(KEYS).map(([id, key]) => ({ id, key_sha256: sha256hex(key) })),
      passthrough: false,
    },
    ...(store ? { store } : {}),
    budgets,
  };
}

async function start(t, up, budgets, store) {
  const p = await startProxy(t, {
    providers: await providers({ openai: up.url }, { openai: { api_key_env: 'SG_IT_OPENAI_KEY' } }),
    admin: { listen: '127.0.0.1:0', token_env: 'SG_IT_ADMIN_TOKEN' },
    env: { SG_IT_OPENAI_KEY: 'sk-real', SG_IT_ADMIN_TOKEN: ADMIN_TOKEN },
    extra: extraConfig(budgets, store),
  });
  await p.waitForAdmin();
  return p;
}

const adminGet = (p, path) => request(`${p.adminUrl}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

/**
 * GET /admin/budgets: each row parsed, with its money members also as exact BigInt picodollars
 * (read from the JSON text: a double would round 16-digit amounts).
 */
async function budgets(p) {
  const res = await adminGet(p, '/admin/budgets');
  assert.equal(res.status, 200, `GET /admin/budgets: ${res.status} ${res.text}`);
  const rows = res.json();
  const texts = res.text.match(/\{[^{}]*\}/g) ?? [];
  assert.equal(texts.length, rows.length, res.text);
  return rows.map((row, i) => {
    const pico = {};
    for (const f of ['limit_usd', 'spent_usd', 'reserved_usd', 'remaining_usd']) pico[f] = usdToPico(rawMember(texts[i], f));
    return { ...row, pico };
  });
}

/** JSON text of rows that carry BigInts. */
const show = (x) => JSON.stringify(x, (_, v) => (typeof v === 'bigint' ? String(v) : v));
const ids = (rows) => rows.map((b) => `${b.name}/${b.subject}`);

/** spendgate_budget_{spent,limit}_usd samples as { "budget/subject": raw value }. */
async function budgetGauges(p) {
  const res = await adminGet(p, '/metrics');
  assert.equal(res.status, 200, `GET /metrics: ${res.status}`);
  const out = { spent: {}, limit: {} };
  for (const line of res.text.split('\n')) {
    const m = /^spendgate_budget_(spent|limit)_usd\{budget="([^"]*)",subject="([^"]*)"\} (\S+)$/.exec(line);
    if (!m) continue;
    const id = `${m[2]}/${m[3]}`;
    assert.equal(out[m[1]][id], undefined, `two ${m[1]} series for ${id}:\n${res.text}`);
    out[m[1]][id] = m[4];
  }
  return out;
}

function utcStart(unit) {
  const d = new Date();
  d.setUTCHours(0, 0, 0, 0);
  if (unit === 'month') d.setUTCDate(1);
  return d;
}

test('configured budgets are listed from the start at zero (admin API, metrics, CLI); open subjects once used, never twice; a reload that removes a budget removes it', async (t) => {
  const up = await startMeteredUpstream(t);
  const p = await start(t, up, [ORG, K2, PER_KEY]);

  // Before any request.
  let rows = await budgets(p);
  assert.deepEqual(ids(rows), ['k2-monthly/k2', 'org-daily/'], show(rows));
  const [k2, org] = rows;
  assert.equal(k2.scope, 'key');
  assert.equal(k2.period, 'month');
  assert.equal(Date.parse(k2.period_start), utcStart('month').getTime(), k2.period_start);
  const nextMonth = utcStart('month');
  nextMonth.setUTCMonth(nextMonth.getUTCMonth() + 1);
  assert.equal(Date.parse(k2.period_end), nextMonth.getTime(), k2.period_end);
  assert.equal(org.scope, 'global');
  assert.equal(Date.parse(org.period_start), utcStart('day').getTime(), org.period_start);
  assert.equal(Date.parse(org.period_end), utcStart('day').getTime() + 86_400_000, org.period_end);
  for (const [b, limit] of [[k2, 50], [org, 500]]) {
    assert.equal(b.limit_usd, limit, `${b.name} limit`);
    assert.equal(b.spent_usd, 0, `${b.name} spent`);
    assert.equal(b.reserved_usd, 0, `${b.name} reserved`);
    assert.equal(b.remaining_usd, limit, `${b.name} remaining`);
    assert.equal(b.used_ratio, 0, `${b.name} used_ratio`);
    assert.equal(b.mode, 'hard');
  }
  let gauges = await budgetGauges(p);
  assert.deepEqual(gauges, { spent: { 'k2-monthly/k2': '0', 'org-daily/': '0' }, limit: { 'k2-monthly/k2': '50', 'org-daily/': '500' } });
  let run = runCli(['budgets'], { env: { SPENDGATE_ADMIN_TOKEN: ADMIN_TOKEN, SPENDGATE_ADMIN_URL: p.adminUrl } });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^k2-monthly\s+key\s+k2\s+month\s+0\.00\s+0\.00\s+50\.00\s/m, run.stdout);
  assert.match(run.stdout, /^org-daily\s+global\s+\(all\)\s+day\s+0\.00\s+0\.00\s+500\.00\s/m, run.stdout);

  // k2 charges all three budgets, k3 two of them: one row (and one series) per budget and subject.
  assert.equal((await chat(p.url, chatBody(), { key: KEYS.k2 })).status, 200);
  assert.equal((await chat(p.url, chatBody(), { key: KEYS.k3 })).status, 200);
  const lines = await waitForLedger(ledgerPathOf(p), 2);
  const cost = (key) => BigInt(usdToPico(rawMember(lines.find((l) => l.json.key === key).raw, 'cost_usd')));
  rows = await budgets(p);
  assert.deepEqual(ids(rows), ['k2-monthly/k2', 'org-daily/', 'per-key/k2', 'per-key/k3'], show(rows));
  assert.equal(rows[0].pico.spent_usd, cost('k2'));
  assert.equal(rows[1].pico.spent_usd, ledgerSumPico(lines));
  assert.equal(rows[3].pico.spent_usd, cost('k3'));
  gauges = await budgetGauges(p);
  assert.deepEqual(Object.keys(gauges.spent).sort(), ['k2-monthly/k2', 'org-daily/', 'per-key/k2', 'per-key/k3']);
  assert.equal(usdToPico(gauges.spent['org-daily/']), ledgerSumPico(lines));

  // Reload: k2-monthly removed, a new global budget added, org-daily's limit changed.
  writeFileSync(p.configPath, p.configText.replace(/^budgets:[\s\S]*$/m, toYaml({
    budgets: [{ ...ORG, limit_usd: 600 }, PER_KEY, { name: 'all-weekly', scope: 'global', period: 'week', limit_usd: 2000 }],
  })));
  const reload = await request(`${p.adminUrl}/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(reload.status, 200, `POST /admin/reload: ${reload.text}`);
  rows = await budgets(p);
  assert.deepEqual(ids(rows), ['all-weekly/', 'org-daily/', 'per-key/k2', 'per-key/k3'], show(rows));
  assert.equal(rows[0].pico.spent_usd, ledgerSumPico(lines), 'a budget a reload adds counts the week so far (docs/ledger.md, "Reload")');
  assert.equal(rows[0].limit_usd, 2000);
  assert.equal(rows[1].limit_usd, 600, 'the limit in force');
  assert.equal(rows[1].pico.spent_usd, ledgerSumPico(lines), 'spend kept across the reload');
  gauges = await budgetGauges(p);
  assert.deepEqual(Object.keys(gauges.limit).sort(), ['all-weekly/', 'org-daily/', 'per-key/k2', 'per-key/k3']);
  assert.equal(gauges.limit['org-daily/'], '600');
  await p.stopClean();
});

test('Redis with leased slices, two instances: budgets listed at zero before traffic, with the other instance\'s spend after it; spent + reserved + remaining = limit while slices are out', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t);
  const up = await startMeteredUpstream(t);
  const store = { kind: 'redis', redis: { url: redis.url } }; // leases: true is the default
  const big = [{ ...ORG, limit_usd: 1000 }, { ...K2, limit_usd: 500 }];
  const a = await start(t, up, big, store);
  const b = await start(t, up, big, store);
  for (const p of [a, b]) {
    // /readyz first: the admin line may come before the Redis connection is up.
    const deadline = Date.now() + 3000;
    while ((await adminGet(p, '/readyz')).status !== 200) {
      assert.ok(Date.now() < deadline, `/readyz not 200 within 3 s\n${p.describe()}`);
      await sleep(50);
    }
    const rows = await budgets(p);
    assert.deepEqual(ids(rows), ['k2-monthly/k2', 'org-daily/'], show(rows));
    assert.deepEqual(rows.map((r) => [r.spent_usd, r.reserved_usd, r.limit_usd, r.remaining_usd]), [[0, 0, 500, 500], [0, 0, 1000, 1000]]);
    assert.deepEqual((await budgetGauges(p)).spent, { 'k2-monthly/k2': '0', 'org-daily/': '0' });
  }

  // Traffic on A only, in rounds: the first request of a counter takes the exact path, the flush
  // after it (50 ms) leases a slice, later rounds are admitted from the slice.
  let served = 0;
  for (let round = 0; round < 6; round++) {
    const answers = await Promise.all(Array.from({ length: 5 }, () => chat(a.url, chatBody({ maxTokens: 50 }), { key: KEYS.k2 })));
    for (const r of answers) assert.equal(r.status, 200, r.text);
    served += answers.length;
    await sleep(60);
  }
  const keys = (await redis.keys('*budget:*')).filter((k) => /^(?:[^:]*:)?budget:/.test(k));
  const leased = {};
  for (const k of keys) {
    const h = await redis.hash(k);
    leased[h.name] = BigInt(h.leased ?? '0');
  }
  assert.ok(leased['org-daily'] > 0n && leased['k2-monthly'] > 0n, `no slices leased, the check below would prove nothing: ${show(leased)}`);

  for (const p of [a, b]) {
    const rows = await budgets(p);
    assert.deepEqual(ids(rows), ['k2-monthly/k2', 'org-daily/'], show(rows));
    for (const r of rows) {
      const { limit_usd, spent_usd, reserved_usd, remaining_usd } = r.pico;
      assert.ok(remaining_usd > 0n, `${r.name}: nothing remaining? ${show(r)}`);
      assert.ok(reserved_usd > 0n, `${r.name} on ${p === a ? 'A' : 'B'}: leased slices are reserved: ${show(r)}`);
      assert.equal(spent_usd + reserved_usd + remaining_usd, limit_usd,
        `${r.name} on ${p === a ? 'A' : 'B'}: spent ${picoToUsd(spent_usd)} + reserved ${picoToUsd(reserved_usd)} + remaining ${picoToUsd(remaining_usd)} != limit ${picoToUsd(limit_usd)}`);
    }
  }

  // B shows what A spent (within a flush interval).
  const lines = await waitForLedger(ledgerPathOf(a), served);
  const total = ledgerSumPico(lines);
  let org = null;
  const deadline = Date.now() + 2000;
  do {
    org = (await budgets(b)).find((r) => r.name === 'org-daily');
    if (org.pico.spent_usd === total) break;
    await sleep(25);
  } while (Date.now() < deadline);
  assert.equal(picoToUsd(org.pico.spent_usd), picoToUsd(total), 'B: spent_usd = A\'s ledger');
  assert.equal(usdToPico((await budgetGauges(b)).spent['org-daily/']), total, 'B: spendgate_budget_spent_usd = A\'s ledger');
  await a.stopClean();
  await b.stopClean();
});
