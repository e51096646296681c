// Restart with the in-memory store (docs/ledger.md, "Restart"): `serve` replays the ledger before
// it accepts traffic, so budget counters, /admin/spend and the automatic emergency stop carry on
// where the last process stopped. Costs from config/pricing.yaml (gpt-4o-mini: input 0.15,
// output 0.60 USD per 1M tokens); the fake upstream reports prompt = body bytes and completion =
// max_tokens, so every answer costs exactly its worst case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { startProxy, providers } from './lib/proxy.mjs';
import { raw, toYaml } from './lib/yaml.mjs';
import { startRedis, redisAvailable } from './lib/redis.mjs';
import { request } from './lib/http.mjs';
import { ledgerPathOf, waitForLedger, sha256hex, keyFingerprint } from './lib/ledger.mjs';
import {
  startMeteredUpstream, chatBody, chat, worstCasePico, assertDenied, ledgerSumPico, picoToUsd, usdToPico, keepAliveAgent,
} from './lib/enforcement.mjs';

const KEYS = { 'team-a': 'sk-virtual-a-0001', 'team-b': 'sk-virtual-b-0002' };
const MAX = 100;
const BODY = chatBody({ maxTokens: MAX, content: 'replay me' });
const W = worstCasePico(Buffer.byteLength(BODY), MAX);

function config({ perKeyLimit, extra = {} }) {
  return {
    identity: {
      virtual_keys: Object.entries(KEYS).map(([id, key]) => ({ id, key_sha256: sha256hex(key) })),
      passthrough: true,
    },
    budgets: [
      { name: 'org-daily', scope: 'global', period: 'day', limit_usd: 100, mode: 'hard' },
      { name: 'per-key', scope: 'key', period: 'day', limit_usd: raw(picoToUsd(perKeyLimit)), mode: 'hard' },
      { name: 'team-month', scope: 'team', period: 'month', limit_usd: 50, mode: 'soft' },
    ],
    ...extra,
  };
}

async function start(t, up, extra, ledger) {
  return startProxy(t, {
    providers: await providers({ openai: up.url }),
    extra,
    // Virtual-key calls need a provider key to inject, or the proxy answers 500 itself.
    env: { OPENAI_API_KEY: 'sk-upstream-replay-test' },
    ...(ledger ? { ledger: { path: ledger } } : {}),
  });
}

/** The log goes out from a background thread: poll stdout + stderr (<= 5 s) for `re`. */
async function waitForLog(proxy, re) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const m = re.exec(proxy.stderr + proxy.stdout);
    if (m) return m;
    assert.ok(Date.now() < deadline, `no log line ${re}:\n${proxy.describe()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const getJson = async (url) => {
  const r = await request(url);
  assert.equal(r.status, 200, `${url}: ${r.status} ${r.text}`);
  return r.json();
};

/** The budget list without what legitimately moves between two calls (projection, ratio). */
const budgetsOf = async (proxy) => (await getJson(`${proxy.adminUrl}/admin/budgets`))
  .map(({ name, scope, subject, period, period_start, period_end, limit_usd, spent_usd, reserved_usd, mode }) =>
    ({ name, scope, subject, period, period_start, period_end, limit_usd, spent_usd, reserved_usd, mode }));

const spendOf = (proxy, by) => getJson(`${proxy.adminUrl}/admin/spend?by=${by}&period=day`);

test('restart on the same ledger: budgets, /admin/spend and a nearly used hard budget carry over', async (t) => {
  const up = await startMeteredUpstream(t, { usage: (rec, body) => ({ prompt: rec.body.length, completion: body.max_tokens }) });
  const perKeyLimit = 3n * W + W / 2n; // room for exactly three requests per key and day
  const extra = config({ perKeyLimit });
  const first = await start(t, up, extra);
  const ledger = ledgerPathOf(first);

  const sends = [['team-a', KEYS['team-a']], ['team-a', KEYS['team-a']], ['team-a', KEYS['team-a']],
    ['team-b', KEYS['team-b']], ['passthrough', 'sk-passthrough-key-123']];
  for (const [who, key] of sends) {
    const r = await chat(first.url, BODY, { key });
    assert.equal(r.status, 200, `${who} before the restart: ${r.text}`);
  }
  const lines = await waitForLedger(ledger, sends.length, { what: 'one line per request' });
  assert.equal(ledgerSumPico(lines), BigInt(sends.length) * W);
  // The ledger's key is the identity the planner charges `scope: key` to.
  assert.deepEqual(lines.map((l) => l.json.key), ['team-a', 'team-a', 'team-a', 'team-b', keyFingerprint('sk-passthrough-key-123')]);

  const budgetsBefore = await budgetsOf(first);
  const byModelBefore = await spendOf(first, 'model');
  const byKeyBefore = await spendOf(first, 'key');
  assert.ok(budgetsBefore.some((b) => b.name === 'per-key' && b.subject === 'team-a'), JSON.stringify(budgetsBefore));
  await first.stopClean();

  // Lines the replay must skip: one malformed, and one from 40 days ago (past every day, week
  // and month; a cost that would exhaust every budget if it were counted).
  const old = { ...lines[0].json, ts: new Date(Date.now() - 40 * 86_400_000).toISOString(), request_id: 'old', cost_usd: 99 };
  appendFileSync(ledger, 'this is not json\n' + JSON.stringify(old) + '\n');

  const second = await start(t, up, extra, ledger);
  const replayed = await waitForLog(second, /replayed (\d+) ledger records \(([0-9.]+) USD\) from (\S+) in \d+ ms/);
  const logs = second.stderr + second.stdout;
  assert.deepEqual(replayed.slice(1), [String(sends.length), picoToUsd(BigInt(sends.length) * W), ledger]);
  assert.equal(logs.match(/malformed/g)?.length, 1, `one warning for the malformed line:\n${logs}`);
  assert.match(logs, /skipped 1 malformed line/);

  // The same counters and the same day's spend report as before the restart.
  assert.deepEqual(await budgetsOf(second), budgetsBefore, 'GET /admin/budgets after the restart');
  assert.deepEqual(await spendOf(second, 'model'), byModelBefore, 'GET /admin/spend?by=model&period=day');
  assert.deepEqual(await spendOf(second, 'key'), byKeyBefore, 'GET /admin/spend?by=key&period=day');

  // team-a used three of its three requests before the restart: still refused, and the
  // request never reaches the upstream. team-b still has room.
  const upstreamBefore = up.requests.length;
  const refused = await chat(second.url, BODY, { key: KEYS['team-a'] });
  assertDenied(refused, 'budget', { what: 'team-a after the restart' });
  assert.match(refused.json().error.message, /per-key/, refused.text);
  assert.equal(up.requests.length, upstreamBefore, 'a refused request never reaches the upstream');
  assert.equal((await chat(second.url, BODY, { key: KEYS['team-b'] })).status, 200, 'team-b still has room');
  await second.stopClean();
});

test('restart: spend already past emergency_stop.auto.spend_usd trips the stop again; thresholds already crossed do not alert again', async (t) => {
  const up = await startMeteredUpstream(t, { usage: (rec, body) => ({ prompt: rec.body.length, completion: body.max_tokens }) });
  const extra = {
    budgets: [{ name: 'watch', scope: 'global', period: 'day', limit_usd: raw(picoToUsd(5n * W)), mode: 'soft', alert_at: [0.5, 1.0] }],
    emergency_stop: { auto: { spend_usd: raw(picoToUsd(3n * W - 1n)), period: 'day', hold: '1h' } },  // 3 requests pass it
  };
  const thresholds = async (proxy) => (await getJson(`${proxy.adminUrl}/admin/alerts`))
    .filter((a) => a.kind === 'budget_threshold').map((a) => a.id.replace(/^.*:threshold:/, ''));

  const first = await start(t, up, extra);
  const ledger = ledgerPathOf(first);
  for (let i = 0; i < 3; i++) assert.equal((await chat(first.url, BODY)).status, 200, `request ${i + 1}`);
  await waitForLedger(ledger, 3, { settleMs: 0 });
  assert.deepEqual(await thresholds(first), ['0.5'], 'at 60 % the 50 % alert fired');
  assert.equal((await getJson(`${first.adminUrl}/admin/emergency-stop`)).active, true, 'tripped before the restart');
  await first.stopClean();

  const second = await start(t, up, extra, ledger);
  const state = await getJson(`${second.adminUrl}/admin/emergency-stop`);
  assert.equal(state.active, true, `the restarted proxy is stopped: ${JSON.stringify(state)}`);
  assert.equal(state.source, 'auto');
  assertDenied(await chat(second.url, BODY), 'emergency_stop', { what: 'after the restart' });
  assert.equal(up.requests.length, 3);

  // An operator lets traffic through for the rest of the day. Request 4 (80 %) crosses nothing
  // new; request 5 (100 %) crosses 1.0. Alerts are decided in settle order, so once the 1.0
  // alert is listed, a repeated 0.5 alert from request 4 would be listed too.
  const off = await request(`${second.adminUrl}/admin/emergency-stop`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ active: false }) });
  assert.equal(off.status, 200, off.text);
  for (let i = 4; i <= 5; i++) assert.equal((await chat(second.url, BODY)).status, 200, `request ${i}`);
  const deadline = Date.now() + 5000;
  let after = await thresholds(second);
  while (!after.includes('1')) {
    assert.ok(Date.now() < deadline, `no 100 % alert: ${JSON.stringify(after)}`);
    await new Promise((r) => setTimeout(r, 50));
    after = await thresholds(second);
  }
  assert.deepEqual(after, ['1'], 'the replayed 50 % crossing is not alerted again');
  await second.stopClean();
});

test('reload: a budget added or renamed counts the day\'s spend from the ledger, as a restart does', async (t) => {
  const up = await startMeteredUpstream(t, { usage: (rec, body) => ({ prompt: rec.body.length, completion: body.max_tokens }) });
  const orgDaily = { name: 'org-daily', scope: 'global', period: 'day', limit_usd: 100, mode: 'hard' };
  // budgets is the config's last section: a reload rewrites it.
  const proxy = await start(t, up, { budgets: [orgDaily] });
  const ledger = ledgerPathOf(proxy);
  const reloadWith = async (budgets) => {
    const text = proxy.configText.slice(0, proxy.configText.indexOf('budgets:')) + toYaml({ budgets });
    writeFileSync(proxy.configPath, text);
    const r = await request(`${proxy.adminUrl}/admin/reload`, { method: 'POST' });
    assert.equal(r.status, 200, `POST /admin/reload: ${r.text}`);
    assert.deepEqual(r.json(), { reloaded: true, errors: [], warnings: [] });
  };
  const spentOf = (list, name) => {
    const b = list.find((x) => x.name === name);
    return b && picoToUsd(usdToPico(String(b.spent_usd)));
  };

  for (let i = 0; i < 3; i++) assert.equal((await chat(proxy.url, BODY)).status, 200, `request ${i + 1}`);
  // Lines are appended just after each answer: let them reach the writer before the reload.
  await waitForLedger(ledger, 3, { settleMs: 0 });
  const spent = picoToUsd(3n * W);

  // An incident: a hard cap below what the day has already spent.
  const dayCap = { name: 'day-cap', scope: 'global', period: 'day', limit_usd: raw(picoToUsd(5n * W / 2n)), mode: 'hard' };
  await reloadWith([orgDaily, dayCap]);
  const seeded = await waitForLog(proxy, /reload: seeded (\d+) budget counters from (\d+) ledger records \(([0-9.]+) USD\) in \d+ ms/);
  assert.deepEqual(seeded.slice(1), ['1', '3', spent]);
  let list = await budgetsOf(proxy);
  assert.equal(spentOf(list, 'day-cap'), spent, `day-cap holds the day's spend: ${JSON.stringify(list)}`);
  assert.equal(spentOf(list, 'org-daily'), spent, 'org-daily was charged live: not counted twice');
  const upstreamBefore = up.requests.length;
  let refused = await chat(proxy.url, BODY);
  assertDenied(refused, 'budget', { what: 'after the reload that added day-cap' });
  assert.match(refused.json().error.message, /day-cap/, refused.text);
  assert.equal(up.requests.length, upstreamBefore, 'a refused request never reaches the upstream');

  // A rename is a new counter: it counts the day too.
  await reloadWith([orgDaily, { ...dayCap, name: 'day-cap-renamed' }]);
  list = await budgetsOf(proxy);
  assert.equal(spentOf(list, 'day-cap-renamed'), spent, JSON.stringify(list));
  refused = await chat(proxy.url, BODY);
  assertDenied(refused, 'budget', { what: 'after the rename' });
  assert.match(refused.json().error.message, /day-cap-renamed/, refused.text);
  const afterReloads = await budgetsOf(proxy);
  await proxy.stopClean();

  // A restart on the same config and ledger agrees.
  const restarted = await startProxy(t, { configText: readFileSync(proxy.configPath, 'utf8'), env: { OPENAI_API_KEY: 'sk-upstream-replay-test' } });
  assert.deepEqual(await budgetsOf(restarted), afterReloads, 'GET /admin/budgets after the reloads and after a restart');
  await restarted.stopClean();
});

test('reload: the next request on a connection kept alive across the reload is under the new rules', async (t) => {
  const up = await startMeteredUpstream(t, { usage: (rec, body) => ({ prompt: rec.body.length, completion: body.max_tokens }) });
  const orgDaily = { name: 'org-daily', scope: 'global', period: 'day', limit_usd: 100, mode: 'hard' };
  const proxy = await start(t, up, { budgets: [orgDaily] });
  const agent = keepAliveAgent(1);
  t.after(() => agent.destroy());
  const first = await chat(proxy.url, BODY, { agent });
  assert.equal(first.status, 200, first.text);
  await waitForLedger(ledgerPathOf(proxy), 1, { settleMs: 0 });

  const dayCap = { name: 'day-cap', scope: 'global', period: 'day', limit_usd: raw(picoToUsd(W / 2n)), mode: 'hard' };
  writeFileSync(proxy.configPath, proxy.configText.slice(0, proxy.configText.indexOf('budgets:')) + toYaml({ budgets: [orgDaily, dayCap] }));
  const r = await request(`${proxy.adminUrl}/admin/reload`, { method: 'POST' });
  assert.equal(r.status, 200, r.text);

  const second = await chat(proxy.url, BODY, { agent });
  assert.equal(second.socket, first.socket, 'the same connection, kept alive across the reload');
  assertDenied(second, 'budget', { what: 'on the kept-alive connection after the reload' });
  assert.match(second.json().error.message, /day-cap/, second.text);
  await proxy.stopClean();
});

test('with the Redis store nothing is replayed: Redis keeps the counters, a replay would count twice', { skip: redisAvailable() ? false : 'redis-server not installed' }, async (t) => {
  const up = await startMeteredUpstream(t);
  const budgets = [{ name: 'org-daily', scope: 'global', period: 'day', limit_usd: 100, mode: 'hard' }];
  const first = await start(t, up, { budgets });
  await waitForLog(first, /replayed 0 ledger records \(0 USD\)/);  // a new ledger
  for (let i = 0; i < 2; i++) assert.equal((await chat(first.url, BODY)).status, 200);
  await waitForLedger(ledgerPathOf(first), 2, { settleMs: 0 });
  await first.stopClean();

  const redis = await startRedis(t);
  const second = await start(t, up, { budgets, store: { kind: 'redis', redis: { url: redis.url } } }, ledgerPathOf(first));
  // The listen line may come before the Redis connection is up.
  const deadline = Date.now() + 3000;
  while ((await request(`${second.adminUrl}/readyz`)).status !== 200) {
    assert.ok(Date.now() < deadline, `/readyz not 200 within 3 s\n${second.describe()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const list = await getJson(`${second.adminUrl}/admin/budgets`);
  assert.deepEqual(list.map((b) => [b.name, b.spent_usd]), [['org-daily', 0]], JSON.stringify(list));
  assert.doesNotMatch(second.stderr + second.stdout, /replayed/);
  await second.stopClean();
});
