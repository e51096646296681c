// The Redis store (SPEC §2 store, §4; docs/enforcement.md "Redis: scripts and layout"): a hard
// budget shared by two instances under concurrency, Redis going away with fail_closed (503
// store_unavailable, /readyz 503, recovery) and fail_open (keeps serving; counters afterwards agree
// with the ledger, nothing counted twice). Each test starts its own redis-server.
import { test } from 'node:test';
import OpenAI from 'openai';
import assert from 'node:assert/strict';
import { startProxy, providers, closedPort } from './lib/proxy.mjs';
import { raw } from './lib/yaml.mjs';
import { sleep } from './lib/fake_upstream.mjs';
import { request, rawExchange } from './lib/http.mjs';
import { ledgerPathOf, readLedger, waitForLedger } from './lib/ledger.mjs';
import {
  startMeteredUpstream, chatBody, chat, worstCasePico, chatCostPico, runPool, keepAliveAgent, assertDenied,
  assertBudgetHeaders, parseBudgetMessage, ledgerSumPico, picoToUsd, adminBudget,
} from './lib/enforcement.mjs';
import { startRedis, startTcpRelay, redisAvailable } from './lib/redis.mjs';

const NO_REDIS = redisAvailable() ? false : 'redis-server not installed';
const isOk = (r) => r.status === 200;

const budget = (limitPico) => ({ name: 'org-daily', scope: 'global', period: 'day', limit_usd: raw(picoToUsd(limitPico)), mode: 'hard' });
const redisStore = (url, on_unavailable = 'fail_closed') => ({ kind: 'redis', redis: { url, on_unavailable } });
const fixedBody = (i, maxTokens) => chatBody({ maxTokens, content: `request ${String(i).padStart(5, '0')} ${'x'.repeat(40)}` });

async function instance(t, up, extra, server = {}, { waitReady = true } = {}) {
  const p = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    server,
    extra,
  });
  await p.waitForAdmin();
  if (waitReady) {
    // The listen line may come before the Redis connection is up: wait for /readyz (<= 3 s).
    const deadline = Date.now() + 3000;
    while ((await request(`${p.adminUrl}/readyz`)).status !== 200) {
      assert.ok(Date.now() < deadline, `/readyz not 200 within 3 s of start (Redis is running)\n${p.stderr.slice(-2000)}`);
      await sleep(50);
    }
  }
  return p;
}

/** The budget counter hash in Redis (docs/enforcement.md: budget:<name>:<subject>:<start>). */
async function redisBudget(redis, name) {
  // <prefix>budget:<name>:... only (not e.g. <prefix>claim:alert:budget:...).
  const keys = (await redis.keys(`*budget:${name}:*`)).filter((k) => /^(?:[^:]*:)?budget:/.test(k));
  if (keys.length === 0) return { keys, spent: 0n, reserved: 0n, hash: null };
  assert.equal(keys.length, 1, `one counter per period expected: ${JSON.stringify(keys)}`);
  const hash = await redis.hash(keys[0]);
  return { keys, hash, spent: BigInt(hash.spent ?? '0'), reserved: BigInt(hash.reserved ?? '0') };
}

/**
 * redisBudget once its spent equals `expected` (or after `ms`): with leased slices (the default)
 * an instance's local spend reaches Redis within one flush interval (docs/store.md).
 */
async function redisBudgetSettled(redis, name, expected, ms = 2000) {
  const deadline = Date.now() + ms;
  let rb = await redisBudget(redis, name);
  while (rb.spent !== expected && Date.now() < deadline) {
    await sleep(25);
    rb = await redisBudget(redis, name);
  }
  return rb;
}

const allKeys = async (redis) => JSON.stringify(await redis.keys('*').catch((e) => String(e)));

function countBy(results) {
  const out = {};
  for (const r of results) {
    const k = `${r.status} ${r.headers['x-spendgate-denied'] ?? ''}`.trim();
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

const readyz = async (p) => (await request(`${p.adminUrl}/readyz`)).status;

// ---------------------------------------------------------------------------------------------
// 2. Shared hard budget, two instances
// ---------------------------------------------------------------------------------------------

test('Redis, two instances: 200 requests 50 in flight alternating A/B against one hard budget -> exactly floor(limit/worst) pass in total, never over the limit; Redis counters = ledgers', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t);
  const MAX = 1000;
  const W = worstCasePico(Buffer.byteLength(fixedBody(0, MAX)), MAX);
  const limit = 40n * W + W / 2n;
  const up = await startMeteredUpstream(t, { delayMs: 50, usage: (rec, body) => ({ prompt: rec.body.length, completion: body.max_tokens }) });
  const extra = { store: redisStore(redis.url), budgets: [budget(limit)] };
  const a = await instance(t, up, extra);
  const b = await instance(t, up, extra);
  const agentA = keepAliveAgent(25);
  const agentB = keepAliveAgent(25);
  t.after(() => { agentA.destroy(); agentB.destroy(); });

  const results = await runPool(200, 50, (i) => (i % 2 === 0
    ? chat(a.url, fixedBody(i, MAX), { agent: agentA })
    : chat(b.url, fixedBody(i, MAX), { agent: agentB })));
  const ok = results.filter(isOk);
  for (const r of results.filter((x) => !isOk(x))) {
    const body = assertDenied(r, 'budget', { what: 'shared budget' });
    assertBudgetHeaders(r, { what: 'shared budget' });
    const m = parseBudgetMessage(body.error.message);
    assert.ok(m.spent + m.reserved + m.amount > m.limit, `refused although spent + reserved + worst <= limit: ${body.error.message}`);
  }
  const expected = Number(limit / W);
  assert.equal(ok.length, expected,
    `admitted ${ok.length} across A and B (A ${results.filter((r, i) => i % 2 === 0 && isOk(r)).length}, B ${results.filter((r, i) => i % 2 === 1 && isOk(r)).length}), expected exactly ${expected}: ${JSON.stringify(countBy(results))}; redis keys ${await allKeys(redis)}`);
  assert.equal(up.requests.length, ok.length, 'only admitted requests reached the upstream');
  await sleep(200);
  const lines = [...readLedger(ledgerPathOf(a)), ...readLedger(ledgerPathOf(b))];
  assert.equal(lines.length, ok.length, 'one ledger line per admitted request across both instances');
  const spent = ledgerSumPico(lines);
  assert.ok(spent <= limit, `ledgers total ${picoToUsd(spent)} > limit ${picoToUsd(limit)}`);
  assert.ok(limit - spent < W, `refused early: ${picoToUsd(limit - spent)} left, worst case ${picoToUsd(W)}`);

  const rb = await redisBudget(redis, 'org-daily');
  assert.ok(rb.hash, `no budget counter in Redis; keys ${await allKeys(redis)}`);
  assert.equal(rb.spent, spent, `Redis spent ${picoToUsd(rb.spent)} != ledgers ${picoToUsd(spent)}: ${JSON.stringify(rb.hash)}`);
  assert.equal(rb.reserved, 0n, `reservations left in Redis: ${JSON.stringify(rb.hash)}`);
  const viaAdmin = await adminBudget(a.adminUrl, 'org-daily');
  if (viaAdmin) assert.ok(Math.abs(viaAdmin.spent_usd - Number(spent) / 1e12) < 1e-12, `/admin/budgets spent_usd ${viaAdmin.spent_usd} != ${picoToUsd(spent)}`);

  // Both instances now refuse, naming the shared spend.
  for (const p of [a, b]) {
    const m = parseBudgetMessage(assertDenied(await chat(p.url, fixedBody(999, MAX)), 'budget').error.message);
    assert.equal(m.spent, spent, `instance sees the shared spend ${picoToUsd(spent)}, says ${picoToUsd(m.spent)}`);
    assert.equal(m.reserved, 0n);
  }
  await a.stopClean();
  await b.stopClean();
});

test('Redis, two instances: answers cheaper than the worst case; concurrent run then one at a time until refused -> spend never passes the limit, used to within one worst case', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t);
  const MAX = 1000;
  const W = worstCasePico(Buffer.byteLength(fixedBody(0, MAX)), MAX);
  const limit = 30n * W + W / 3n;
  let seed = 777;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const up = await startMeteredUpstream(t, { delayMs: 50, usage: () => ({ prompt: 25, completion: 100 + Math.floor(rnd() * (MAX - 100)) }) });
  const extra = { store: redisStore(redis.url), budgets: [budget(limit)] };
  const a = await instance(t, up, extra);
  const b = await instance(t, up, extra);
  const agent = keepAliveAgent(50);
  t.after(() => agent.destroy());
  const pick = (i) => (i % 2 === 0 ? a : b);
  const results = await runPool(200, 50, (i) => chat(pick(i).url, fixedBody(i, MAX), { agent }));
  for (const r of results.filter((x) => !isOk(x))) assertDenied(r, 'budget', { what: 'concurrent run' });
  let tail = 0;
  let refusal = null;
  for (let i = 0; i < 400 && !refusal; i++) {
    const r = await chat(pick(i).url, fixedBody(1000 + i, MAX), { agent });
    if (r.status === 200) { tail++; continue; }
    // An answer does not wait for its shared settle's reply, so the previous request's settle,
    // sent by the other instance, can reach Redis after this admit: its reservation then still
    // shows. Ask again once it has landed; the refusal to judge is one with nothing in flight.
    if (parseBudgetMessage(assertDenied(r, 'budget').error.message).reserved === 0n) refusal = r;
    else await sleep(50);
  }
  assert.ok(refusal, 'the shared budget never ran out');
  const admitted = results.filter(isOk).length + tail;
  await sleep(200);
  const lines = [...readLedger(ledgerPathOf(a)), ...readLedger(ledgerPathOf(b))];
  assert.equal(lines.length, admitted);
  assert.equal(up.requests.length, admitted);
  const spent = ledgerSumPico(lines);
  assert.ok(spent <= limit, `ledgers total ${picoToUsd(spent)} > limit ${picoToUsd(limit)}`);
  const m = parseBudgetMessage(assertDenied(refusal, 'budget').error.message);
  assert.equal(m.reserved, 0n, refusal.text);
  assert.equal(m.spent, spent, `shared spent ${picoToUsd(m.spent)} != ledgers ${picoToUsd(spent)}`);
  assert.ok(limit - spent < W, `refused early: ${picoToUsd(limit - spent)} left, worst case ${picoToUsd(W)}`);
  await a.stopClean();
  await b.stopClean();
});

// ---------------------------------------------------------------------------------------------
// 6. Redis goes away
// ---------------------------------------------------------------------------------------------

test('Redis with leased slices (the default), two instances, official openai SDK: a big budget is served mostly from local slices; /admin/budgets on each shows spent = the sum of both ledgers within a flush interval', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t);
  const up = await startMeteredUpstream(t);
  const extra = { store: redisStore(redis.url), budgets: [budget(1000n * 1_000_000_000_000n)], rate_limits: [{ name: 'per-key', scope: 'key', requests_per_minute: 1_000_000 }] };
  const a = await instance(t, up, extra);
  const b = await instance(t, up, extra);
  const clients = [a, b].map((p) => new OpenAI({ apiKey: 'sk-test', baseURL: `${p.url}/v1`, maxRetries: 0, timeout: 30_000 }));
  const req = { model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'Say hello' }] };
  let served = 0;
  for (let round = 0; round < 12; round++) {
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => clients[i % 2].chat.completions.create(req)));
    for (const answer of answers) assert.ok(answer.choices.length > 0 && answer.usage);
    served += answers.length;
    await sleep(20); // slices arrive with the first flushes; later rounds are served locally
  }
  const lines = await waitForLedger(ledgerPathOf(a), served / 2);
  const linesB = await waitForLedger(ledgerPathOf(b), served / 2);
  const total = ledgerSumPico([...lines, ...linesB]);
  assert.equal(lines.length + linesB.length, served);
  for (const p of [a, b]) {
    // Each instance: its own spend at once, the other's within a flush interval (50 ms).
    const want = Number(total) / 1e12;
    let spent = null;
    const deadline = Date.now() + 2000;
    do {
      spent = (await adminBudget(p.adminUrl, 'org-daily')).spent_usd;
      if (Math.abs(spent - want) < 1e-12) break;
      await sleep(25);
    } while (Date.now() < deadline);
    assert.ok(Math.abs(spent - want) < 1e-12, `/admin/budgets spent_usd ${spent} != ledgers ${picoToUsd(total)}`);
  }
  assert.equal((await redisBudgetSettled(redis, 'org-daily', total)).spent, total, 'Redis spent = ledgers');
  // Every exact admission leaves a reservation record; local ones leave none.
  const exact = (await redis.keys('*rsv:*')).filter((k) => !k.endsWith('rsv:exp')).length;
  assert.ok(exact < served / 2, `${exact} of ${served} requests went through Redis' admit.lua`);
  t.diagnostic(`leased slices: ${served - exact} of ${served} requests admitted locally`);
  await a.stopClean();
  await b.stopClean();
});

test('Redis with leased slices, instance A killed with SIGKILL while requests it admitted locally are at the provider: its slice is charged as spent when the lease lapses, so the provider bills no more than the hard limit in total (docs/store.md "Crash")', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t);
  const MAX = 1000;
  const W = worstCasePico(Buffer.byteLength(fixedBody(0, MAX)), MAX);
  const limit = 300n * W + W / 2n; // slices (headroom / 32, about 9 worst cases) are granted
  // Every answer costs exactly its worst case; `hold` keeps answers at the provider on demand.
  let hold = Promise.resolve();
  const up = await startMeteredUpstream(t, { gate: () => hold, usage: (rec, body) => ({ prompt: rec.body.length, completion: body.max_tokens }) });
  const extra = { store: redisStore(redis.url), budgets: [budget(limit)] };
  const a = await instance(t, up, extra);
  const b = await instance(t, up, extra);
  for (let i = 0; i < 3; i++) assert.equal((await chat(a.url, fixedBody(i, MAX))).status, 200); // A takes a slice
  await sleep(200); // flushed: Redis has A's spend

  let release;
  hold = new Promise((resolve) => { release = resolve; });
  const before = up.requests.length;
  const inFlight = Array.from({ length: 5 }, (_, i) => chat(a.url, fixedBody(100 + i, MAX)).catch((e) => e));
  await up.waitForRequest(before + 5);
  a.proc.kill('SIGKILL');
  await a.exited;
  release(); // the provider answers (and bills) the requests whose client died
  await Promise.all(inFlight);
  await sleep(6000); // lease ttl 5 s

  const agent = keepAliveAgent(20);
  t.after(() => agent.destroy());
  const results = await runPool(400, 20, (i) => chat(b.url, fixedBody(1000 + i, MAX), { agent }));
  assert.ok(results.some((r) => r.status === 429), `B was never refused: ${JSON.stringify(countBy(results))}`);
  await b.stopClean();

  const billed = BigInt(up.requests.length) * W;
  assert.ok(billed <= limit, `the provider billed ${picoToUsd(billed)} > limit ${picoToUsd(limit)} (${up.requests.length} requests of ${picoToUsd(W)})`);
  const ledger = ledgerSumPico([...readLedger(ledgerPathOf(a)), ...readLedger(ledgerPathOf(b))]);
  const after = await redisBudget(redis, 'org-daily');
  const lapsed = BigInt(after.hash.lapsed ?? '0');
  t.diagnostic(`B admitted ${results.filter(isOk).length}; Redis: ${JSON.stringify(after.hash)}`);
  assert.ok(after.spent + after.reserved <= limit, `Redis over the limit: ${JSON.stringify(after.hash)}`);
  // What Redis charged without a ledger line is exactly the lapsed slice, shown as `lapsed`.
  assert.equal(after.spent - lapsed, ledger, `Redis spent ${picoToUsd(after.spent)} - lapsed ${picoToUsd(lapsed)} != ledgers ${picoToUsd(ledger)}`);
  assert.ok(lapsed >= 5n * W, `lapsed ${picoToUsd(lapsed)} < A's 5 requests in flight`);
});

test('Redis, with and without leased slices: a budget 429 to a caller under a rate limit carries its x-ratelimit-* (SPEC §3)', { skip: NO_REDIS }, async (t) => {
  for (const leases of [true, false]) {
    const redis = await startRedis(t);
    const body = chatBody({ maxTokens: 100 });
    const W = worstCasePico(Buffer.byteLength(body), 100);
    const up = await startMeteredUpstream(t);
    const p = await instance(t, up, {
      store: { kind: 'redis', redis: { url: redis.url, on_unavailable: 'fail_closed', leases } },
      budgets: [budget(W + W / 2n)],
      rate_limits: [{ name: 'per-key', scope: 'key', requests_per_minute: 10, tokens_per_minute: 10000 }],
    });
    const first = await chat(p.url, body);
    assert.equal(first.status, 200, first.text);
    const refused = await chat(p.url, chatBody({ maxTokens: 400 }));
    const what = `leases ${leases}`;
    assertDenied(refused, 'budget', { what });
    assertBudgetHeaders(refused, { what });
    assert.equal(refused.headers['x-ratelimit-limit-requests'], '10', `${what}: ${JSON.stringify(refused.headers)}`);
    assert.match(refused.headers['x-ratelimit-remaining-requests'] ?? '', /^\d+$/, what);
    assert.ok(Number(refused.headers['x-ratelimit-remaining-requests']) <= 9, what);
    assert.equal(refused.headers['x-ratelimit-limit-tokens'], '10000', what);
    assert.match(refused.headers['x-ratelimit-reset-tokens'] ?? '', /^\d+(\.\d+)?m?s$/, what);
    await p.stopClean();
  }
});

test('Redis killed and restarted, fail_closed: 503 store_unavailable while down (nothing forwarded), /readyz 503, no crash; serves again after the restart', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t);
  const up = await startMeteredUpstream(t);
  const p = await instance(t, up, { store: redisStore(redis.url, 'fail_closed'), budgets: [budget(100_000_000_000_000n)] });
  assert.equal((await chat(p.url, chatBody())).status, 200);
  assert.equal(await readyz(p), 200, '/readyz while Redis is up');
  assert.ok((await redisBudget(redis, 'org-daily')).hash, `the proxy must count in Redis; keys ${await allKeys(redis)}`);

  await redis.kill();
  const forwardedBefore = up.requests.length;
  // The proxy may need a moment to notice; within 2 s every request must be refused.
  let first = null;
  const deadline = Date.now() + 2000;
  while (!first && Date.now() < deadline) {
    const r = await chat(p.url, chatBody());
    if (r.status !== 200) first = r; else await sleep(50);
  }
  assert.ok(first, 'requests still served 2 s after Redis died (fail_closed)');
  assertDenied(first, 'store_unavailable', { what: 'Redis down, fail_closed' });
  const forwardedAtFirstRefusal = up.requests.length;
  const during = await runPool(20, 10, () => chat(p.url, chatBody()));
  for (const r of during) assertDenied(r, 'store_unavailable', { what: 'Redis down, fail_closed (burst)' });
  t.diagnostic(`requests served after the kill before the proxy noticed: ${forwardedAtFirstRefusal - forwardedBefore}`);
  assert.equal(await readyz(p), 503, '/readyz while Redis is down');
  const status = await request(`${p.adminUrl}/admin/status`);
  assert.equal(status.json().store?.up, false, `/admin/status store.up while down: ${status.text}`);
  assert.ok(p.alive(), 'proxy died while Redis was down');

  assert.equal(up.requests.length, forwardedAtFirstRefusal, 'nothing reached the upstream after the first store_unavailable');
  await redis.restart();
  let back = null;
  const until = Date.now() + 15_000;
  while (!back && Date.now() < until) {
    const r = await chat(p.url, chatBody());
    if (r.status === 200) back = r; else await sleep(100);
  }
  assert.ok(back, `no request passed within 15 s of the Redis restart\n${p.stderr.slice(-2000)}`);
  assert.equal(await readyz(p), 200, '/readyz after the restart');
  const afterRestart = await runPool(10, 5, () => chat(p.url, chatBody()));
  assert.deepEqual(countBy(afterRestart), { 200: 10 });
  assert.ok(p.alive());
  await sleep(150);
  assert.equal(readLedger(ledgerPathOf(p)).length, up.requests.length, 'one ledger line per forwarded request, none for refusals');
  await p.stopClean();
});

test('Redis killed and restarted, fail_open: keeps serving while down, /readyz 503; after the restart Redis never holds more than the ledger (nothing counted twice)', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t);
  const up = await startMeteredUpstream(t);
  const per = chatCostPico(19, 10);
  const p = await instance(t, up, { store: redisStore(redis.url, 'fail_open'), budgets: [budget(100_000_000_000_000n)] });
  for (let i = 0; i < 5; i++) assert.equal((await chat(p.url, chatBody())).status, 200);
  assert.equal((await redisBudgetSettled(redis, 'org-daily', 5n * per)).spent, 5n * per, `Redis counts the first 5; keys ${await allKeys(redis)}`);

  await redis.kill();
  const during = await runPool(10, 5, () => chat(p.url, chatBody()));
  assert.deepEqual(countBy(during), { 200: 10 }, 'fail_open serves while Redis is down');
  assert.equal(await readyz(p), 503, '/readyz while Redis is down');
  assert.ok(p.alive());
  // Served on local counters: counted, and said once on the log (not once per request).
  const metrics = (await request(`${p.adminUrl}/metrics`)).text;
  assert.match(metrics, /^spendgate_fail_open_admissions_total 10$/m, metrics);
  const said = p.stderr.split('\n').filter((l) => l.includes("admitting on this instance's own counters (fail_open)"));
  assert.equal(said.length, 1, p.stderr.slice(-3000));

  await redis.restart(); // empty: no persistence
  const until = Date.now() + 15_000;
  while (await readyz(p) !== 200) {
    assert.ok(Date.now() < until, '/readyz never 200 after the Redis restart');
    await sleep(100);
  }
  const after = await runPool(5, 5, () => chat(p.url, chatBody()));
  assert.deepEqual(countBy(after), { 200: 5 });
  const lines = await waitForLedger(ledgerPathOf(p), 20);
  assert.equal(ledgerSumPico(lines), 20n * per);
  await sleep(500);
  const rb = await redisBudget(redis, 'org-daily');
  // The restarted Redis lost the first 5. It must hold at least the 5 admitted after the restart
  // and at most what happened since the restart plus the outage (15): more means double counting.
  assert.ok(rb.spent >= 5n * per && rb.spent <= 15n * per,
    `Redis spent after the restart ${picoToUsd(rb.spent)} (= ${Number(rb.spent / per)} requests), expected between 5 and 15 requests: ${JSON.stringify(rb.hash)}`);
  assert.equal(rb.reserved, 0n, JSON.stringify(rb.hash));
  t.diagnostic(`fail_open after a kill: Redis holds ${Number(rb.spent / per)} of 20 requests (5 lost with the kill; 15 means the outage was reconciled)`);
  await p.stopClean();
});

test('Redis cut off (data kept) and back, fail_open: keeps serving; afterwards the Redis budget counter equals the ledger total exactly (outage reconciled once, nothing counted twice)', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t);
  const relay = await startTcpRelay(t, redis.port);
  const up = await startMeteredUpstream(t);
  const per = chatCostPico(19, 10);
  const p = await instance(t, up, { store: redisStore(relay.url, 'fail_open'), budgets: [budget(100_000_000_000_000n)] });
  for (let i = 0; i < 5; i++) assert.equal((await chat(p.url, chatBody())).status, 200);
  assert.equal((await redisBudgetSettled(redis, 'org-daily', 5n * per)).spent, 5n * per, `Redis counts the first 5; keys ${await allKeys(redis)}`);

  relay.cut();
  await sleep(100);
  const during = await runPool(10, 5, () => chat(p.url, chatBody()));
  assert.deepEqual(countBy(during), { 200: 10 }, 'fail_open serves while Redis is unreachable');
  assert.equal(await readyz(p), 503, '/readyz while Redis is unreachable');
  assert.equal((await redisBudget(redis, 'org-daily')).spent, 5n * per, 'nothing reached Redis during the cut');

  relay.restore();
  const until = Date.now() + 15_000;
  while (await readyz(p) !== 200) {
    assert.ok(Date.now() < until, '/readyz never 200 after Redis came back');
    await sleep(100);
  }
  const after = await runPool(5, 5, () => chat(p.url, chatBody()));
  assert.deepEqual(countBy(after), { 200: 5 });
  const lines = await waitForLedger(ledgerPathOf(p), 20);
  const total = ledgerSumPico(lines);
  assert.equal(total, 20n * per);
  // Give reconciliation a few seconds.
  let rb;
  const rdeadline = Date.now() + 5000;
  do {
    rb = await redisBudget(redis, 'org-daily');
    if (rb.spent === total) break;
    await sleep(200);
  } while (Date.now() < rdeadline);
  assert.equal(rb.spent, total,
    `Redis budget spent ${picoToUsd(rb.spent)} (= ${Number(rb.spent) / Number(per)} requests) != ledger total ${picoToUsd(total)} (20 requests): ${JSON.stringify(rb.hash)}`);
  assert.equal(rb.reserved, 0n, JSON.stringify(rb.hash));
  const viaAdmin = await adminBudget(p.adminUrl, 'org-daily');
  if (viaAdmin) assert.ok(Math.abs(viaAdmin.spent_usd - Number(total) / 1e12) < 1e-12, `/admin/budgets spent_usd ${viaAdmin.spent_usd} != ${picoToUsd(total)}`);
  await p.stopClean();
});

test('Redis not running when the proxy starts, fail_closed: the proxy starts, refuses with 503 store_unavailable, /readyz 503; serves once Redis comes up', { skip: NO_REDIS }, async (t) => {
  const { closedPort } = await import('./lib/proxy.mjs');
  const port = await closedPort();
  const up = await startMeteredUpstream(t);
  const p = await instance(t, up, { store: redisStore(`redis://127.0.0.1:${port}/0`, 'fail_closed'), budgets: [budget(100_000_000_000_000n)] }, {}, { waitReady: false });
  assertDenied(await chat(p.url, chatBody()), 'store_unavailable', { what: 'Redis never started' });
  assert.equal(await readyz(p), 503);
  assert.equal(up.requests.length, 0);
  // The start says why, once (not only in per-request lines).
  const cannot = () => p.stderr.split('\n').filter((l) => / warn(ing)? redis store: cannot connect to redis:\/\/127\.0\.0\.1:\d+\/0: .+ \(retrying\)/.test(l));
  for (const until = Date.now() + 5000; cannot().length === 0 && Date.now() < until;) await sleep(50);
  await sleep(1500);  // more failed attempts: still one line
  assert.equal(cannot().length, 1, p.stderr.slice(-3000));
  const redis = await startRedis(t, { port });
  let back = null;
  const until = Date.now() + 15_000;
  while (!back && Date.now() < until) {
    const r = await chat(p.url, chatBody());
    if (r.status === 200) back = r; else await sleep(100);
  }
  assert.ok(back, 'no request passed within 15 s of Redis starting');
  assert.equal(await readyz(p), 200);
  assert.ok((await redisBudget(redis, 'org-daily')).hash, `counted in Redis; keys ${await allKeys(redis)}`);
  await p.stopClean();
});

/**
 * The proxy's request bytes, sent the moment `port` takes a connection: connection attempts start
 * before the process does and are repeated while refused (the listener is bound before serve
 * starts accepting, so the request then waits in the backlog).
 */
async function firstRequestWhenOpen(port, body) {
  const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer sk-test\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  for (const until = Date.now() + 20_000; Date.now() < until;) {
    try {
      return await rawExchange(port, head + body, { timeout: 10_000 });
    } catch (e) {
      if (e.code !== 'ECONNREFUSED') throw e;
      await sleep(1);
    }
  }
  throw new Error(`port ${port} never took a connection`);
}

test('Redis up, fail_closed: the very first request, sent as soon as the port takes connections, is served (serve accepts once its Redis connection is up; it answered 503 store_unavailable, audit 16 L1)', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t);
  const up = await startMeteredUpstream(t);
  for (const threads of [1, 2, 2]) {
    const port = await closedPort();
    const first = firstRequestWhenOpen(port, chatBody());
    const p = await startProxy(t, {
      providers: await providers({ openai: up.url }),
      server: { listen: `127.0.0.1:${port}`, threads },
      extra: { store: redisStore(redis.url), budgets: [budget(100_000_000_000_000n)] },
    });
    const { response } = await first;
    assert.equal(response.status, 200,
      `first request after the start (${threads} thread(s)): ${response.status} ${response.headers?.['x-spendgate-denied'] ?? ''}\n${p.stderr.slice(-2000)}`);
    const lines = p.stderr.split('\n');
    const connected = lines.findIndex((l) => /redis store: connected/.test(l));
    const listening = lines.findIndex((l) => / listening on /.test(l));
    assert.ok(connected >= 0 && connected < listening, `connected before accepting:\n${p.stderr.slice(-2000)}`);
    await p.stopClean();
  }
});

// No redis-server needed: nothing listens on the port, so the store is down from the start.
test('Redis unreachable, fail_closed, no budgets or rate limits: every format is refused 503 store_unavailable (the shared emergency stop cannot be read); fail_open still forwards', async (t) => {
  const up = await startMeteredUpstream(t);
  const url = `redis://127.0.0.1:${await closedPort()}/0`;
  const closed = await instance(t, up, { store: redisStore(url, 'fail_closed') }, {}, { waitReady: false });
  assert.equal(await readyz(closed), 503, '/readyz with Redis unreachable');
  const calls = [
    ['openai', '/v1/chat/completions', { authorization: 'Bearer sk-test' }, chatBody()],
    ['anthropic', '/v1/messages', { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' },
      JSON.stringify({ model: 'claude-3-5-haiku-20241022', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })],
    ['gemini', '/v1beta/models/gemini-2.5-flash:generateContent', { 'x-goog-api-key': 'gm-test' },
      JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] })],
  ];
  for (const [format, path, headers, body] of calls) {
    const res = await request(`${closed.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    assertDenied(res, 'store_unavailable', { format, what: `${format}, Redis unreachable, no rules` });
  }
  assert.equal(up.requests.length, 0, 'nothing reached the upstream');
  await closed.stopClean();

  const open = await instance(t, up, { store: redisStore(url, 'fail_open') }, {}, { waitReady: false });
  const res = await chat(open.url, chatBody());
  assert.equal(res.status, 200, `fail_open forwards: ${res.text}`);
  assert.equal(up.requests.length, 1);
  await open.stopClean();
});
