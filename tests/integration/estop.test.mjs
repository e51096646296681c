// Emergency stop (SPEC §1 `spendgate estop`, §4, §5): the CLI against one instance (memory store)
// and against two instances sharing Redis: a stop set on A refuses requests on B within 1 s,
// `status` shows it, `off` restores both, `--for` ends by itself, the automatic stop trips on
// shared spend with source "auto". A timed stop that runs out is stored as off and alerted
// (docs/enforcement.md "Expiry on a timer").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy, providers } from './lib/proxy.mjs';
import { sleep } from './lib/fake_upstream.mjs';
import { request } from './lib/http.mjs';
import {
  startMeteredUpstream, chatBody, chat, assertDenied, getEstop, setEstop, admin, runCliAsync, chatCostPico,
} from './lib/enforcement.mjs';
import { startRedis, redisAvailable } from './lib/redis.mjs';

const TOKEN = 'estop-test-admin-token';
const ENV = { SPENDGATE_ADMIN_TOKEN: TOKEN };
const ADMIN = { listen: '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' };
const NO_REDIS = redisAvailable() ? false : 'redis-server not installed';
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

const estop = (adminUrl, args, env = ENV) => runCliAsync(['estop', ...args, '--admin', adminUrl], { env });

function assertCli(r, code, what) {
  assert.equal(r.code, code, `${what}: exit ${r.code} (expected ${code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

async function startInstance(t, up, extra = {}) {
  return startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    admin: ADMIN,
    env: ENV,
    extra,
  });
}

const redisStore = (redis, on_unavailable = 'fail_closed') => ({ kind: 'redis', redis: { url: redis.url, on_unavailable } });

/** Poll `url` with a chat request every 100 ms until its status satisfies pred; returns {res, ms}. */
async function pollStatus(url, pred, { timeout = 3000, what } = {}) {
  let last = null;
  const start = performance.now();
  for (;;) {
    last = await chat(url, chatBody());
    if (pred(last.status)) return { res: last, ms: performance.now() - start };
    if (performance.now() - start > timeout) {
      assert.fail(`${what}: not reached within ${timeout} ms; last answer ${last.status} ${last.text}`);
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// One instance, memory store
// ---------------------------------------------------------------------------------------------

test('estop CLI (one instance): status / on --reason / off, with the admin token; exit codes 0, 1 (wrong token, bad arguments), 2 (unreachable)', async (t) => {
  const up = await startMeteredUpstream(t);
  const proxy = await startInstance(t, up);
  await proxy.waitForAdmin();

  let r = await estop(proxy.adminUrl, ['status']);
  assertCli(r, 0, 'estop status');
  assert.match(r.stdout, /\boff\b/i, `status while off: ${r.stdout}`);

  r = await estop(proxy.adminUrl, ['on', '--reason', 'cli test: runaway loop']);
  assertCli(r, 0, 'estop on');
  assert.match(r.stdout, /\bON\b/, `on prints the new state: ${r.stdout}`);
  const state = await getEstop(proxy.adminUrl, TOKEN);
  assert.equal(state.active, true);
  assert.equal(state.reason, 'cli test: runaway loop');
  assert.equal(state.source, 'manual');
  assert.equal(state.until, null);
  assert.match(state.since, RFC3339);

  const denied = await chat(proxy.url, chatBody());
  assertDenied(denied, 'emergency_stop', { what: 'after estop on' });
  assert.equal(denied.headers['x-should-retry'], 'false');
  assert.equal(denied.headers['retry-after'], undefined, 'no end -> no retry-after');

  r = await estop(proxy.adminUrl, ['status']);
  assertCli(r, 0, 'estop status while on');
  assert.match(r.stdout, /\bON\b/, r.stdout);
  assert.match(r.stdout, /cli test: runaway loop/, `status shows the reason: ${r.stdout}`);

  // Wrong / missing token: the admin API refuses -> exit 1, state unchanged.
  r = await estop(proxy.adminUrl, ['off'], { SPENDGATE_ADMIN_TOKEN: 'wrong' });
  assertCli(r, 1, 'estop off with a wrong token');
  r = await estop(proxy.adminUrl, ['off'], { SPENDGATE_ADMIN_TOKEN: '' });
  assertCli(r, 1, 'estop off without a token');
  assert.equal((await getEstop(proxy.adminUrl, TOKEN)).active, true, 'a refused CLI call must not change the state');

  // Bad arguments -> exit 1.
  r = await estop(proxy.adminUrl, ['sideways']);
  assertCli(r, 1, 'estop sideways');
  r = await estop(proxy.adminUrl, ['on', '--for', 'a while']);
  assertCli(r, 1, 'estop on --for "a while"');

  // Unreachable admin API -> exit 2.
  r = await runCliAsync(['estop', 'status', '--admin', 'http://127.0.0.1:1'], { env: ENV });
  assertCli(r, 2, 'estop status against a closed port');

  r = await estop(proxy.adminUrl, ['off']);
  assertCli(r, 0, 'estop off');
  assert.match(r.stdout, /\boff\b/i, r.stdout);
  const ok = await chat(proxy.url, chatBody());
  assert.equal(ok.status, 200, `service restored after estop off: ${ok.text}`);
  assert.equal(up.requests.length, 1, 'no request reached the upstream while the stop was on');
  await proxy.stopClean();
});

test('estop CLI (one instance): on --for 2s refuses with retry-after, then ends by itself', async (t) => {
  const up = await startMeteredUpstream(t);
  const proxy = await startInstance(t, up);
  await proxy.waitForAdmin();
  const before = Date.now();
  const r = await estop(proxy.adminUrl, ['on', '--reason', 'short', '--for', '2s']);
  assertCli(r, 0, 'estop on --for 2s');
  const state = await getEstop(proxy.adminUrl, TOKEN);
  assert.equal(state.active, true);
  const until = Date.parse(state.until);
  assert.ok(until - before >= 1900 && until - before <= 3000, `until ${state.until} ~ now + 2 s`);
  const denied = await chat(proxy.url, chatBody());
  assertDenied(denied, 'emergency_stop', { what: 'during --for 2s' });
  assert.match(denied.headers['retry-after'] ?? '', /^[12]$/, `retry-after for a 2 s stop: ${JSON.stringify(denied.headers)}`);
  const { ms } = await pollStatus(proxy.url, (s) => s === 200, { timeout: 4000, what: 'the 2 s stop ends by itself' });
  const endedAt = Date.now();
  assert.ok(endedAt >= until - 50, `served again ${until - endedAt} ms before the stop's end`);
  assert.ok(endedAt <= until + 1000, `still refused ${endedAt - until} ms after the stop's end (${ms.toFixed(0)} ms polling)`);
  assert.equal((await getEstop(proxy.adminUrl, TOKEN)).active, false, 'GET shows the stop ended');
  await proxy.stopClean();
});

test('estop on --for longer than 36500d is refused (CLI exit 1, API 400) and changes nothing; 36500d itself holds', async (t) => {
  // now + 99999d passed the end of the 64-bit nanosecond clock (2262) and wrapped into the
  // past: the stop was stored "until 1716", so `estop on --for 99999d` printed "off" and exit 0.
  const up = await startMeteredUpstream(t);
  const proxy = await startInstance(t, up);
  await proxy.waitForAdmin();
  let r = await estop(proxy.adminUrl, ['on', '--reason', 'forever', '--for', '99999d']);
  assertCli(r, 1, 'estop on --for 99999d');
  assert.match(r.stderr, /36500d/, `the refusal names the maximum: ${r.stderr}`);
  for (const tooLong of ['36501d', '106751d', '2562047h', '10000000000s']) {
    const res = await admin(proxy.adminUrl, 'POST', '/admin/emergency-stop', { body: { active: true, for: tooLong }, token: TOKEN });
    assert.equal(res.status, 400, `for ${tooLong}: ${res.status} ${res.text}`);
  }
  const state = await getEstop(proxy.adminUrl, TOKEN);
  assert.equal(state.active, false, `a refused stop changes nothing: ${JSON.stringify(state)}`);
  assert.ok(Date.parse(state.since) > Date.parse('2026-01-01T00:00:00Z'), `since ${state.since}`);

  const before = Date.now();
  r = await estop(proxy.adminUrl, ['on', '--reason', 'a century', '--for', '36500d']);
  assertCli(r, 0, 'estop on --for 36500d');
  const on = await getEstop(proxy.adminUrl, TOKEN);
  assert.equal(on.active, true, JSON.stringify(on));
  const years = (Date.parse(on.until) - before) / (365 * 86_400_000);
  assert.ok(years > 99.9 && years < 100.1, `until ${on.until} is 100 years away`);
  assertDenied(await chat(proxy.url, chatBody()), 'emergency_stop', { what: 'during the 36500d stop' });
  assert.equal(up.requests.length, 0);
  await proxy.stopClean();
});

/** GET the stop around its end `until` (ms): either still the stop, or exactly the off state at `until`. */
async function assertOnOrExpired(p, until, reason) {
  const sent = Date.now();
  const state = await getEstop(p.adminUrl, TOKEN);
  const answered = Date.now();
  const what = `GET sent ${sent - until} ms after the end: ${JSON.stringify(state)}`;
  if (state.active) {
    assert.equal(state.reason, reason, what);
    assert.equal(Date.parse(state.until), until, what);
    assert.ok(sent < until + 50, `still on after its end: ${what}`);
    return;
  }
  assert.ok(answered >= until - 50, `off before its end: ${what}`);
  assert.equal(state.reason, '', `an expired stop reads like one turned off: ${what}`);
  assert.equal(state.until, null, what);
  assert.equal(Date.parse(state.since), until, `since = the old until: ${what}`);
}

const emergencyAlerts = async (p) => {
  const r = await admin(p.adminUrl, 'GET', '/admin/alerts', { token: TOKEN });
  assert.equal(r.status, 200, r.text);
  return r.json().filter((a) => a.kind.startsWith('emergency_stop'));
};

const estopMetric = async (p) => {
  const r = await admin(p.adminUrl, 'GET', '/metrics', { token: TOKEN });
  assert.equal(r.status, 200, r.text);
  return r.text.match(/^spendgate_emergency_stop (\d+)$/m)?.[1];
};

test('a timed stop that runs out is stored as off (reason "", since = until, until null), alerts emergency_stop_off "ran out", metric 0', async (t) => {
  const up = await startMeteredUpstream(t);
  const proxy = await startInstance(t, up, { alerts: { cooldown: '1s' } }); // for the second pair
  await proxy.waitForAdmin();
  const on = await setEstop(proxy.adminUrl, { active: true, reason: 'short', for: '2s' }, TOKEN);
  assert.equal(on.active, true);
  const until = Date.parse(on.until);
  assert.equal(await estopMetric(proxy), '1');

  // Every GET around the end is either the stop or the normalised off state, never a mix.
  while (Date.now() < until + 300) {
    await assertOnOrExpired(proxy, until, 'short');
    await sleep(50);
  }
  await sleep(Math.max(0, until + 1000 - Date.now()));
  const state = await getEstop(proxy.adminUrl, TOKEN);
  assert.deepEqual(state, { active: false, reason: '', since: new Date(until).toISOString(), until: null, source: 'manual' });
  const status = (await admin(proxy.adminUrl, 'GET', '/admin/status', { token: TOKEN })).json();
  assert.deepEqual(status.emergency_stop, state, '/admin/status agrees');
  assert.equal(await estopMetric(proxy), '0');

  // No settle and no admin call ended it: the timer noticed, and said so.
  const alerts = await emergencyAlerts(proxy);
  assert.deepEqual(alerts.map((a) => a.kind), ['emergency_stop_off', 'emergency_stop_on'], JSON.stringify(alerts));
  const off = alerts[0];
  assert.equal(off.id, `emergency_stop:off:${until}`);
  assert.equal(off.level, 'info');
  assert.match(off.title, /ended: its time ran out/);
  assert.match(off.message, /"short"/);
  assert.equal(off.details.ended, 'ran_out');
  assert.equal(off.details.reason, 'short');

  assert.equal((await chat(proxy.url, chatBody())).status, 200, 'requests pass');
  // A manual off of an open-ended stop still reads "turned off" (after the 1 s cooldown).
  await sleep(1100);
  await setEstop(proxy.adminUrl, { active: true, reason: 'open' }, TOKEN);
  await setEstop(proxy.adminUrl, { active: false }, TOKEN);
  const [manualOff] = await emergencyAlerts(proxy);
  assert.equal(manualOff.kind, 'emergency_stop_off');
  assert.equal(manualOff.details.ended, 'turned_off', JSON.stringify(manualOff));
  await proxy.stopClean();
});

// ---------------------------------------------------------------------------------------------
// Two instances sharing Redis
// ---------------------------------------------------------------------------------------------

/** Start Redis and two instances A and B sharing it; B has no rules (only the shared stop). */
async function twoInstances(t, { extra = {} } = {}) {
  const redis = await startRedis(t);
  const up = await startMeteredUpstream(t);
  const a = await startInstance(t, up, { store: redisStore(redis), ...extra });
  const b = await startInstance(t, up, { store: redisStore(redis), ...extra });
  await a.waitForAdmin();
  await b.waitForAdmin();
  for (const p of [a, b]) {
    // The proxy may print its listen line before its Redis connection is up: wait (<= 3 s).
    let s;
    const deadline = Date.now() + 3000;
    do {
      s = await request(`${p.adminUrl}/admin/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(s.status, 200, s.text);
      if (s.json().store?.up === true) break;
      await sleep(50);
    } while (Date.now() < deadline);
    assert.deepEqual(s.json().store, { kind: 'redis', up: true }, `/admin/status store: ${s.text}`);
  }
  return { redis, up, a, b };
}

const redisDiag = async (redis) => `redis keys: ${JSON.stringify(await redis.keys('*').catch((e) => String(e)))}`;

test('estop CLI with Redis: on at A refuses on B within 1 s; status at B shows it; off at A restores A and B', { skip: NO_REDIS }, async (t) => {
  const { redis, up, a, b } = await twoInstances(t);
  assert.equal((await chat(b.url, chatBody())).status, 200);

  const r = await estop(a.adminUrl, ['on', '--reason', 'shared stop']);
  assertCli(r, 0, 'estop on at A');
  let seenOnB;
  try {
    seenOnB = await pollStatus(b.url, (s) => s !== 200, { timeout: 3000, what: 'B refuses after estop on at A' });
  } catch (e) {
    e.message += `\n${await redisDiag(redis)}`;
    throw e;
  }
  assertDenied(seenOnB.res, 'emergency_stop', { what: 'B after estop on at A' });
  const forwardedAtStop = up.requests.length; // B may serve a few polls before it sees the stop
  t.diagnostic(`B refused ${seenOnB.ms.toFixed(0)} ms after the CLI returned`);
  assert.ok(seenOnB.ms <= 1000 + 150, `B refused only ${seenOnB.ms.toFixed(0)} ms after the CLI returned (limit 1 s)`);
  assert.ok((await redis.keys('*estop*')).length > 0, `the stop must be in Redis; ${await redisDiag(redis)}`);
  assertDenied(await chat(a.url, chatBody()), 'emergency_stop', { what: 'A after estop on at A' });

  const status = await estop(b.adminUrl, ['status']);
  assertCli(status, 0, 'estop status at B');
  assert.match(status.stdout, /\bON\b/, status.stdout);
  assert.match(status.stdout, /shared stop/, status.stdout);
  const stateB = await getEstop(b.adminUrl, TOKEN);
  assert.equal(stateB.active, true);
  assert.equal(stateB.reason, 'shared stop');
  assert.equal(stateB.source, 'manual');

  assert.equal(up.requests.length, forwardedAtStop, 'nothing reached the upstream once the stop was seen');
  const off = await estop(a.adminUrl, ['off']);
  assertCli(off, 0, 'estop off at A');
  const backOnB = await pollStatus(b.url, (s) => s === 200, { timeout: 3000, what: 'B serves again after estop off at A' });
  assert.ok(backOnB.ms <= 1000 + 150, `B served again only after ${backOnB.ms.toFixed(0)} ms`);
  assert.equal((await chat(a.url, chatBody())).status, 200, 'A serves again');
  assert.equal((await getEstop(b.adminUrl, TOKEN)).active, false);
  await a.stopClean();
  await b.stopClean();
});

test('estop CLI with Redis: on --for 2s at A refuses on B, and ends by itself on both', { skip: NO_REDIS }, async (t) => {
  const { redis, a, b } = await twoInstances(t);
  const r = await estop(a.adminUrl, ['on', '--reason', 'brief', '--for', '2s']);
  assertCli(r, 0, 'estop on --for 2s at A');
  const until = Date.parse((await getEstop(a.adminUrl, TOKEN)).until);
  let onB;
  try {
    onB = await pollStatus(b.url, (s) => s !== 200, { timeout: 1500, what: 'B refuses after estop on --for 2s at A' });
  } catch (e) {
    e.message += `\n${await redisDiag(redis)}`;
    throw e;
  }
  assertDenied(onB.res, 'emergency_stop', { what: 'B' });
  assert.match(onB.res.headers['retry-after'] ?? '', /^[12]$/, `retry-after on B: ${JSON.stringify(onB.res.headers)}`);
  await pollStatus(b.url, (s) => s === 200, { timeout: 4000, what: 'B serves again when the 2 s stop ends' });
  assert.ok(Date.now() <= until + 1000, `B refused until ${Date.now() - until} ms after the end`);
  assert.equal((await chat(a.url, chatBody())).status, 200, 'A serves again');
  assert.equal((await getEstop(b.adminUrl, TOKEN)).active, false);
  await a.stopClean();
  await b.stopClean();
});

test('automatic emergency stop with Redis: spend on A and B together passes spend_usd -> both refuse (source auto); off restores both', { skip: NO_REDIS }, async (t) => {
  // 8.85 microdollars per answer; spend_usd 20 microdollars -> the 3rd settled answer trips it.
  assert.equal(chatCostPico(19, 10), 8_850_000n);
  const { redis, up, a, b } = await twoInstances(t, { extra: { emergency_stop: { auto: { spend_usd: 0.00002, period: 'day', hold: '1h' } } } });
  for (const [i, p] of [a, b, a].entries()) {
    const r = await chat(p.url, chatBody());
    assert.equal(r.status, 200, `request ${i + 1}: ${r.text}`);
  }
  let onA;
  let onB;
  try {
    onB = await pollStatus(b.url, (s) => s !== 200, { timeout: 1500, what: 'B refuses after the shared spend passed spend_usd' });
    onA = await pollStatus(a.url, (s) => s !== 200, { timeout: 1500, what: 'A refuses after the shared spend passed spend_usd' });
  } catch (e) {
    e.message += `\n${await redisDiag(redis)}`;
    throw e;
  }
  assertDenied(onB.res, 'emergency_stop', { what: 'B auto' });
  assertDenied(onA.res, 'emergency_stop', { what: 'A auto' });
  // Up to a few requests may have passed while polling (before the trip reached B): an answer
  // does not wait for its shared settle's reply, so B can pass a second poll before its first
  // settle comes back over the threshold. At most 3 + 2 polls.
  assert.ok(up.requests.length <= 5, `requests forwarded after the spend passed the threshold: ${up.requests.length - 3}; ${await redisDiag(redis)}`);
  for (const p of [a, b]) {
    const s = await getEstop(p.adminUrl, TOKEN);
    assert.equal(s.active, true, JSON.stringify(s));
    assert.equal(s.source, 'auto', JSON.stringify(s));
    assert.ok(s.until, `an auto stop with hold 1h has an end: ${JSON.stringify(s)}`);
    assert.equal(Date.parse(s.until) - Date.parse(s.since), 3600_000, `until = since + the 1h hold: ${JSON.stringify(s)}`);
  }
  const status = await estop(b.adminUrl, ['status']);
  assertCli(status, 0, 'estop status at B');
  assert.match(status.stdout, /auto/, status.stdout);

  const off = await estop(b.adminUrl, ['off']);
  assertCli(off, 0, 'estop off at B');
  await pollStatus(a.url, (s) => s === 200, { timeout: 1500, what: 'A serves again after off at B' });
  for (let i = 0; i < 2; i++) {
    assert.equal((await chat(b.url, chatBody())).status, 200, 'B serves again and the auto stop stays suppressed this period');
    await sleep(50);
  }
  assert.equal((await chat(a.url, chatBody())).status, 200, 'A still serving');
  await a.stopClean();
  await b.stopClean();
});

test('timed stop with Redis: both instances store and show the same off state; the off alert is sent once (the other lists it as duplicate)', { skip: NO_REDIS }, async (t) => {
  const { redis, a, b } = await twoInstances(t);
  const on = await setEstop(a.adminUrl, { active: true, reason: 'brief', for: '2s' }, TOKEN);
  const until = Date.parse(on.until);
  await pollUntilTrue(async () => (await getEstop(b.adminUrl, TOKEN)).active, 'B sees the stop');
  await sleep(Math.max(0, until + 1200 - Date.now()));
  const expected = { active: false, reason: '', since: new Date(until).toISOString(), until: null, source: 'manual' };
  for (const p of [a, b]) assert.deepEqual(await getEstop(p.adminUrl, TOKEN), expected);
  const hashes = await redis.keys('*estop*');
  assert.equal(hashes.length, 1, JSON.stringify(hashes));
  const stored = await redis.hash(hashes[0]);
  assert.equal(stored.active, '0', `the store holds the off state: ${JSON.stringify(stored)}`);
  assert.equal(stored.since_ms, String(until), JSON.stringify(stored));
  const offs = [];
  for (const p of [a, b]) {
    const list = await emergencyAlerts(p);
    assert.equal(list[0]?.kind, 'emergency_stop_off', JSON.stringify(list));
    assert.equal(list[0].id, `emergency_stop:off:${until}`);
    offs.push(list[0].status);
  }
  assert.equal(offs.filter((s) => s !== 'duplicate').length, 1, `sent by one instance: ${JSON.stringify(offs)}`);
  assert.equal(await estopMetric(b), '0');
  await a.stopClean();
  await b.stopClean();
});

async function pollUntilTrue(fn, what, timeout = 2000) {
  const deadline = Date.now() + timeout;
  while (!(await fn())) {
    assert.ok(Date.now() < deadline, `${what}: not within ${timeout} ms`);
    await sleep(50);
  }
}

test('estop on while Redis is down (fail_open): in force on that instance at once (200 with a warning), stored in Redis when it is back, then B refuses too', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t);
  const up = await startMeteredUpstream(t);
  const a = await startInstance(t, up, { store: redisStore(redis, 'fail_open') });
  const b = await startInstance(t, up, { store: redisStore(redis, 'fail_open') });
  await a.waitForAdmin();
  await b.waitForAdmin();
  await pollStatus(a.url, (s) => s === 200, { what: 'A serves' });
  await pollStatus(b.url, (s) => s === 200, { what: 'B serves' });

  await redis.kill();
  assert.equal((await chat(a.url, chatBody())).status, 200, 'fail_open serves while Redis is down');
  const r = await estop(a.adminUrl, ['on', '--reason', 'incident during the outage']);
  assertCli(r, 0, 'estop on at A while Redis is down');
  assert.match(r.stderr, /warning: .*this instance only/, r.stderr);
  assertDenied(await chat(a.url, chatBody()), 'emergency_stop', { what: 'A at once, Redis down' });
  const shown = await setEstop(a.adminUrl, { active: true, reason: 'incident during the outage' }, TOKEN);
  assert.match(shown.warning ?? '', /this instance only/, JSON.stringify(shown));

  await redis.restart();  // empty: the stop is written by A's next poll
  const { res } = await pollStatus(b.url, (s) => s !== 200, { timeout: 5000, what: 'B refuses once A stored the stop' });
  assertDenied(res, 'emergency_stop', { what: 'B after Redis is back' });
  assert.ok((await redis.keys('*estop*')).length > 0, `the stop is in Redis; ${await redisDiag(redis)}`);
  const stateB = await getEstop(b.adminUrl, TOKEN);
  assert.equal(stateB.active, true, JSON.stringify(stateB));
  assert.equal(stateB.reason, 'incident during the outage');
  const stateA = await getEstop(a.adminUrl, TOKEN);
  assert.equal(stateA.warning, undefined, `stored: no warning any more ${JSON.stringify(stateA)}`);
  assertCli(await estop(a.adminUrl, ['off']), 0, 'estop off at A');
  await pollStatus(b.url, (s) => s === 200, { what: 'B serves after off' });
});
