// The emergency stop across restarts with the in-memory store (docs/enforcement.md, "Across
// restarts"): `serve` keeps the stop in `<ledger.path>.estop.json` and reads it back before it
// serves, so a stop an operator turned on stays on after a restart (crash, deploy), a stop
// turned off stays off, a `--for` stop that ran out while no process was running comes back
// off, and an automatic stop turned off by hand stays suppressed although the ledger replay
// rebuilds the spend that tripped it. A file that cannot be understood stops `serve` (exit 1), one
// that cannot be written is logged and shown in the admin answer. With Redis no file is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { startProxy, providers } from './lib/proxy.mjs';
import { sleep } from './lib/fake_upstream.mjs';
import { raw } from './lib/yaml.mjs';
import { ledgerPathOf, waitForLedger } from './lib/ledger.mjs';
import { startRedis, redisAvailable } from './lib/redis.mjs';
import {
  startMeteredUpstream, chatBody, chat, assertDenied, getEstop, setEstop, runCliAsync, worstCasePico, picoToUsd,
  admin, pollUntil,
} from './lib/enforcement.mjs';

const TOKEN = 'estop-restart-admin-token';
const ENV = { SPENDGATE_ADMIN_TOKEN: TOKEN };
const ADMIN = { listen: '127.0.0.1:0', token_env: 'SPENDGATE_ADMIN_TOKEN' };
const MAX = 50;
const BODY = chatBody({ maxTokens: MAX, content: 'restart me' });
const W = worstCasePico(Buffer.byteLength(BODY), MAX);

const estopFileOf = (ledger) => `${ledger}.estop.json`;
const estopCli = (adminUrl, args) => runCliAsync(['estop', ...args, '--admin', adminUrl], { env: ENV });

async function start(t, up, { ledger, extra = {} } = {}) {
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url }),
    admin: ADMIN,
    env: ENV,
    extra,
    ...(ledger ? { ledger: { path: ledger } } : {}),
  });
  await proxy.waitForAdmin();
  return proxy;
}

test('restart keeps a manual stop on (reason, source, since), refusing before the upstream; a stop turned off stays off', async (t) => {
  const up = await startMeteredUpstream(t);
  const first = await start(t, up);
  const ledger = ledgerPathOf(first);
  const on = await estopCli(first.adminUrl, ['on', '--reason', 'incident']);
  assert.equal(on.code, 0, `estop on: ${on.stdout}${on.stderr}`);
  const before = await getEstop(first.adminUrl, TOKEN);
  assert.equal(before.active, true);
  assert.ok(existsSync(estopFileOf(ledger)), 'the stop is kept next to the ledger');
  await first.stopClean();

  const second = await start(t, up, { ledger });
  const after = await getEstop(second.adminUrl, TOKEN);
  assert.equal(after.active, true, `still on after the restart: ${JSON.stringify(after)}`);
  assert.equal(after.reason, 'incident');
  assert.equal(after.source, 'manual');
  assert.equal(after.until, null);
  assert.equal(after.since, before.since, 'since is the moment the operator turned it on');
  const status = await estopCli(second.adminUrl, ['status']);
  assert.match(status.stdout, /\bON\b/, `estop status after the restart: ${status.stdout}`);
  assertDenied(await chat(second.url, BODY), 'emergency_stop', { what: 'after the restart' });
  assert.equal(up.requests.length, 0, 'nothing was forwarded while the stop was on');

  const off = await estopCli(second.adminUrl, ['off']);
  assert.equal(off.code, 0, `estop off: ${off.stdout}${off.stderr}`);
  await second.stopClean();

  const third = await start(t, up, { ledger });
  assert.equal((await getEstop(third.adminUrl, TOKEN)).active, false, 'off stays off');
  const ok = await chat(third.url, BODY);
  assert.equal(ok.status, 200, `traffic flows after off + restart: ${ok.text}`);
  assert.equal(up.requests.length, 1);
  await third.stopClean();
});

test('restart: a --for stop still running comes back with its until; one that ran out while down comes back off', async (t) => {
  const up = await startMeteredUpstream(t);
  const first = await start(t, up);
  const ledger = ledgerPathOf(first);
  const state = await setEstop(first.adminUrl, { active: true, reason: 'short', for: '3s' }, TOKEN);
  assert.equal(state.active, true);
  assert.notEqual(state.until, null);
  await first.stopClean();

  // Restarted within the 3 s: still on, same end.
  const second = await start(t, up, { ledger });
  const during = await getEstop(second.adminUrl, TOKEN);
  assert.equal(during.active, true, `a timed stop still running survives: ${JSON.stringify(during)}`);
  assert.equal(during.until, state.until);
  assertDenied(await chat(second.url, BODY), 'emergency_stop', { what: 'timed stop after the restart' });
  await second.stopClean();
  const kept = JSON.parse(readFileSync(estopFileOf(ledger), 'utf8'));
  assert.equal(kept.active, true, `the file still holds the running stop: ${JSON.stringify(kept)}`);

  // Down past its end: off, and traffic flows.
  const wait = Date.parse(state.until) - Date.now() + 300;
  if (wait > 0) await sleep(wait);
  const third = await start(t, up, { ledger });
  const after = await getEstop(third.adminUrl, TOKEN);
  assert.equal(after.active, false, `ran out while down: ${JSON.stringify(after)}`);
  assert.equal(after.until, null);
  assert.equal((await chat(third.url, BODY)).status, 200);
  assert.equal(JSON.parse(readFileSync(estopFileOf(ledger), 'utf8')).active, false, 'the file is brought up to date');
  await third.stopClean();
});

test('restart: an automatic stop turned off by hand stays suppressed although the replay rebuilds the spend', async (t) => {
  const up = await startMeteredUpstream(t, { usage: (rec, body) => ({ prompt: rec.body.length, completion: body.max_tokens }) });
  const extra = { emergency_stop: { auto: { spend_usd: raw(picoToUsd(W - 1n)), period: 'day', hold: '1h' } } };  // 1 request passes it
  const first = await start(t, up, { extra });
  const ledger = ledgerPathOf(first);
  assert.equal((await chat(first.url, BODY)).status, 200);
  await waitForLedger(ledger, 1, { settleMs: 0 });
  const tripped = await getEstop(first.adminUrl, TOKEN);
  assert.equal(tripped.active, true, `spend past the threshold trips the stop: ${JSON.stringify(tripped)}`);
  assert.equal(tripped.source, 'auto');
  await setEstop(first.adminUrl, { active: false }, TOKEN);
  assert.equal((await chat(first.url, BODY)).status, 200, 'suppressed for the rest of the day');
  await waitForLedger(ledger, 2, { settleMs: 0 });
  await first.stopClean();

  const second = await start(t, up, { ledger, extra });
  const state = await getEstop(second.adminUrl, TOKEN);
  assert.equal(state.active, false, `the suppression outlives the restart: ${JSON.stringify(state)}`);
  const ok = await chat(second.url, BODY);
  assert.equal(ok.status, 200, `request after the restart: ${ok.text}`);
  assert.equal(up.requests.length, 3);
  await second.stopClean();
});

test('a corrupt stop file: serve refuses to start, naming the file; deleting it starts with the stop off', async (t) => {
  const up = await startMeteredUpstream(t);
  const first = await start(t, up);
  const ledger = ledgerPathOf(first);
  await setEstop(first.adminUrl, { active: true, reason: 'incident' }, TOKEN);
  await first.stopClean();

  const file = estopFileOf(ledger);
  writeFileSync(file, '{"version":1,"active":tr');
  const r = await runCliAsync(['serve', '-c', first.configPath], { env: ENV, timeout: 15_000 });
  assert.equal(r.code, 1, `serve with a corrupt stop file: exit ${r.code} ${r.signal}\n${r.stdout}${r.stderr}`);
  assert.ok(r.stderr.includes(`${file}: `), `the error names the file: ${r.stderr}`);
  assert.doesNotMatch(r.stdout + r.stderr, /listening on/, 'it never served');
  assert.equal(readFileSync(file, 'utf8'), '{"version":1,"active":tr', 'the file is left for the operator');

  // The way out the error names: delete the file (the operator decides the stop is off).
  rmSync(file);
  const second = await start(t, up, { ledger });
  assert.equal((await getEstop(second.adminUrl, TOKEN)).active, false);
  assert.equal((await chat(second.url, BODY)).status, 200);
  await second.stopClean();
});

test('a stop file that cannot be written: the stop applies, the log says so, and the admin answer warns', async (t) => {
  const up = await startMeteredUpstream(t);
  const proxy = await start(t, up);
  const file = estopFileOf(ledgerPathOf(proxy));
  mkdirSync(`${file}.tmp`);  // the temporary file cannot be created, even by root

  const on = await setEstop(proxy.adminUrl, { active: true, reason: 'disk trouble' }, TOKEN);
  assert.equal(on.active, true);
  assert.ok(on.warning?.includes(`${file}.tmp: `), `the answer warns, naming the file: ${JSON.stringify(on)}`);
  assert.ok((await getEstop(proxy.adminUrl, TOKEN)).warning, 'GET shows the warning too');
  const cli = await estopCli(proxy.adminUrl, ['status']);
  assert.match(cli.stderr, /warning: not kept across restarts/, `estop status: ${cli.stderr}`);
  assertDenied(await chat(proxy.url, BODY), 'emergency_stop', { what: 'stop applies in memory' });
  assert.equal(up.requests.length, 0);
  assert.ok(existsSync(file) === false, 'nothing written');
  const deadline = Date.now() + 5000;
  while (!/cannot keep the emergency stop across restarts/.test(proxy.stderr + proxy.stdout)) {
    assert.ok(Date.now() < deadline, `no error logged:\n${proxy.describe()}`);
    await sleep(20);
  }

  rmdirSync(`${file}.tmp`);
  const off = await setEstop(proxy.adminUrl, { active: false }, TOKEN);
  assert.equal(off.warning, undefined, `written again: no warning: ${JSON.stringify(off)}`);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).active, false);
  await proxy.stopClean();
});

/** The Redis connection comes up after the listener: retry the admin call until it answers 200. */
async function whenRedisUp(proxy, method, body) {
  const { value } = await pollUntil(async () => {
    const r = await admin(proxy.adminUrl, method, '/admin/emergency-stop', { token: TOKEN, body });
    // Before the connection is up a change applies on this instance only (200 with a warning,
    // docs/store.md): wait for one Redis took.
    return r.status === 200 && !r.json().warning ? r : null;
  }, { what: `${method} /admin/emergency-stop with Redis connected` });
  return value;
}

test('with the Redis store no file is written: Redis keeps the stop', { skip: redisAvailable() ? false : 'redis-server not installed' }, async (t) => {
  const up = await startMeteredUpstream(t);
  const redis = await startRedis(t);
  const extra = { store: { kind: 'redis', redis: { url: redis.url } } };
  const first = await start(t, up, { extra });
  const ledger = ledgerPathOf(first);
  await whenRedisUp(first, 'POST', { active: true, reason: 'incident' });
  await first.stopClean();
  assert.equal(existsSync(estopFileOf(ledger)), false, 'no stop file with Redis');

  const second = await start(t, up, { ledger, extra });
  const state = (await whenRedisUp(second, 'GET')).json();
  assert.equal(state.active, true, `Redis kept the stop: ${JSON.stringify(state)}`);
  assert.equal(state.reason, 'incident');
  await second.stopClean();
});
