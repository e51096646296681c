// Process lifecycle of `spendgate serve`: startup output, graceful SIGTERM with requests in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { startProxy, providers, binPath, makeTempDir, defaultServer } from './lib/proxy.mjs';
import { startUpstream, json, startSse, sseFrame, writeAsync, sleep } from './lib/fake_upstream.mjs';
import { request, withTimeout } from './lib/http.mjs';
import { toYaml } from './lib/yaml.mjs';
import { anthropicEvents, OPENAI_CHAT_COMPLETION } from './lib/fixtures.mjs';

test('serve prints "listening on http://HOST:PORT" and the admin address on stdout, and exits 0 on SIGTERM', async (t) => {
  const proxy = await startProxy(t, {});
  assert.equal(proxy.listenLineStream, 'stdout', `listen line must be on stdout\n${proxy.describe()}`);
  assert.equal(proxy.host, '127.0.0.1');
  assert.ok(proxy.port > 0);
  await proxy.waitForAdmin();
  assert.match(proxy.stdout, /admin API on http:\/\/127\.0\.0\.1:\d+/, `admin line missing on stdout\n${proxy.describe()}`);
  const res = await request(`${proxy.url}/nope`);
  assert.equal(res.status, 404);
  await proxy.stopClean();
});

test('serve on a wildcard address (0.0.0.0, [::]) says so and points clients at loopback, not at the wildcard', async (t) => {
  for (const [listen, wildcard, loopback] of [['0.0.0.0:0', '0.0.0.0', '127.0.0.1'], ['[::]:0', '[::]', '[::1]']]) {
    const proxy = await startProxy(t, { server: defaultServer({ listen }) });
    for (const deadline = Date.now() + 5_000; !proxy.stdout.includes('OPENAI_BASE_URL=');) {
      assert.ok(Date.now() < deadline, `no client lines within 5 s\n${proxy.describe()}`);
      await sleep(50);
    }
    assert.ok(proxy.stdout.includes(`listening on http://${wildcard}:${proxy.port} (all interfaces)\n`), proxy.describe());
    const clients = proxy.stdout.slice(proxy.stdout.indexOf('point your clients here'));
    assert.match(clients, /^point your clients here \(from other machines, use this machine's name or address instead of /, clients);
    for (const line of [`OPENAI_BASE_URL=http://${loopback}:${proxy.port}/v1`, `ANTHROPIC_BASE_URL=http://${loopback}:${proxy.port}`]) {
      assert.ok(clients.includes(line), `missing ${line}\n${proxy.describe()}`);
    }
    assert.ok(!clients.includes(wildcard), `a client line names ${wildcard}\n${proxy.describe()}`);
    // And it is where the proxy answers.
    assert.equal((await request(`http://${loopback}:${proxy.port}/nope`)).status, 404);
    await proxy.stopClean();
  }
});

test('admin /healthz answers 200 ok', async (t) => {
  const proxy = await startProxy(t, {});
  await proxy.waitForAdmin();
  const res = await request(`${proxy.adminUrl}/healthz`);
  assert.equal(res.status, 200);
  assert.equal(res.text.trim(), 'ok');
  await proxy.stopClean();
});

test('SIGTERM while a request is in flight: the request completes, then the process exits 0', async (t) => {
  let release;
  const gate = new Promise((r) => { release = r; });
  const up = await startUpstream({
    handler: async (req, res) => {
      await gate;
      json(res, 200, OPENAI_CHAT_COMPLETION);
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, { providers: await providers({ openai: up.url }) });
  const pending = request(`${proxy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await up.waitForRequest(1);
  proxy.proc.kill('SIGTERM');
  // Give the signal a chance to be handled while the request is still open, then let the upstream answer.
  await sleep(500);
  assert.ok(proxy.alive(), `proxy exited before its in-flight request finished\n${proxy.describe()}`);
  release();
  const res = await pending;
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json(), OPENAI_CHAT_COMPLETION);
  const exit = await withTimeout(proxy.exited, 20_000, 'proxy exit after draining');
  assert.deepEqual(exit, { code: 0, signal: null }, proxy.describe());
});

test('SIGTERM during an SSE stream: the stream is delivered completely, then exit 0', async (t) => {
  const frames = anthropicEvents().map(sseFrame);
  let streamStarted;
  const started = new Promise((r) => { streamStarted = r; });
  const up = await startUpstream({
    handler: async (req, res) => {
      startSse(res);
      await writeAsync(res, frames[0]);
      streamStarted();
      for (const f of frames.slice(1)) { await sleep(150); await writeAsync(res, f); }
      res.end();
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, { providers: await providers({ anthropic: up.url }) });
  const pending = request(`${proxy.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-3-5-haiku-20241022', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await withTimeout(started, 15_000, 'stream start');
  proxy.proc.kill('SIGTERM');
  const res = await pending;
  assert.equal(res.status, 200);
  assert.equal(res.text, frames.join(''));
  const exit = await withTimeout(proxy.exited, 20_000, 'proxy exit after the stream');
  assert.deepEqual(exit, { code: 0, signal: null }, proxy.describe());
});

test('SIGTERM with an idle keep-alive client connection open still exits 0 promptly', async (t) => {
  const up = await startUpstream({ handler: (req, res) => json(res, 200, { ok: true }) });
  t.after(() => up.close());
  const proxy = await startProxy(t, { providers: await providers({ openai: up.url }), server: { idle_timeout: '60s' } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const res = await request(`${proxy.url}/v1/models`, { agent, headers: { authorization: 'Bearer sk-test' } });
  assert.equal(res.status, 200);
  // the client connection (and the pooled upstream connection) stay open and idle
  const r = await proxy.stop({ timeout: 15_000 });
  assert.equal(r.timedOut, false, 'idle keep-alive connection blocked shutdown');
  assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null }, proxy.describe());
});

test('idle client connection is closed after idle_timeout', async (t) => {
  const up = await startUpstream({ handler: (req, res) => json(res, 200, { ok: true }) });
  t.after(() => up.close());
  const proxy = await startProxy(t, { providers: await providers({ openai: up.url }), server: { idle_timeout: '1s' } });
  const sock = net.connect(proxy.port, '127.0.0.1');
  sock.on('error', () => {});
  let answer = '';
  sock.on('data', (d) => { answer += d; }); // keep the socket flowing so EOF is seen
  t.after(() => sock.destroy());
  await new Promise((r) => sock.once('connect', r));
  const t0 = performance.now();
  sock.write(`GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n\r\n`);
  const closed = new Promise((r) => sock.once('close', () => r(performance.now())));
  const closedAt = await withTimeout(closed, 20_000, 'proxy to close an idle keep-alive connection (idle_timeout 1s)');
  assert.match(answer, /^HTTP\/1\.1 200/, 'request before going idle should have been answered');
  assert.ok(closedAt - t0 >= 900, `closed after ${(closedAt - t0).toFixed(0)} ms, before idle_timeout`);
  await proxy.stopClean();
});

// A client that starts a request and stops: the head must arrive within idle_timeout, or the
// connection is closed without an answer; a body that stops for idle_timeout gets a 408 and then
// the close (timeouts come from the worker's sweep, not a timer per read).
for (const [what, partial] of [
  ['head', 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bear'],
  ['body', 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n' +
    'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model":'],
]) {
  test(`client that stops sending the request ${what} is closed after idle_timeout`, async (t) => {
    const up = await startUpstream({ handler: (req, res) => json(res, 200, OPENAI_CHAT_COMPLETION) });
    t.after(() => up.close());
    const proxy = await startProxy(t, { providers: await providers({ openai: up.url }), server: { idle_timeout: '1s' } });
    const sock = net.connect(proxy.port, '127.0.0.1');
    sock.on('error', () => {});
    let answer = '';
    sock.on('data', (d) => { answer += d; });
    t.after(() => sock.destroy());
    await new Promise((r) => sock.once('connect', r));
    const t0 = performance.now();
    sock.write(partial);
    const closed = new Promise((r) => sock.once('close', () => r(performance.now())));
    const closedAt = await withTimeout(closed, 20_000, `proxy to close a connection whose request ${what} stalled (idle_timeout 1s)`);
    if (what === 'head') {
      assert.equal(answer, '', 'no answer expected to a stalled request head');
    } else {
      assert.match(answer, /^HTTP\/1\.1 408 /, `408 expected to a stalled request body: ${answer}`);
    }
    assert.ok(closedAt - t0 >= 900, `closed after ${(closedAt - t0).toFixed(0)} ms, before idle_timeout`);
    assert.ok(closedAt - t0 < 10_000, `closed after ${(closedAt - t0).toFixed(0)} ms, far beyond idle_timeout`);
    assert.equal(up.requests.length, 0, 'a stalled request must not reach the upstream');
    const res = await request(`${proxy.url}/v1/models`, { headers: { authorization: 'Bearer sk-test' } });
    assert.equal(res.status, 200, 'proxy keeps serving');
    await proxy.stopClean();
  });
}

test('serve with a listen address already in use fails with a non-zero exit', async (t) => {
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
  t.after(() => blocker.close());
  const dir = makeTempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = path.join(dir, 'spendgate.yaml');
  writeFileSync(cfg, toYaml({
    server: defaultServer({ listen: `127.0.0.1:${blocker.address().port}` }),
    admin: { listen: '127.0.0.1:0' },
    providers: await providers({}),
    ledger: { path: path.join(dir, 'ledger.jsonl') },
  }));
  const proc = spawn(binPath(), ['serve', '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  t.after(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  const [code, signal] = await withTimeout(new Promise((r) => proc.once('exit', (c, s) => r([c, s]))), 15_000,
    'serve to give up on a busy port');
  assert.equal(signal, null);
  assert.notEqual(code, 0, out);
  assert.ok(out.trim().length > 0, 'no error message printed');
});
