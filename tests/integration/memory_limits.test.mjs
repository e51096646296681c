// Memory under large answers (docs/metering.md, "Memory"): large per-request buffers share one
// allowance (server.max_buffered_bytes), and a compressed answer is decoded no faster than its
// client reads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, writeAsync, sleep } from './lib/fake_upstream.mjs';
import { request } from './lib/http.mjs';
import { ledgerPathOf, waitForEntry, readLedger, assertFields, costOf, picoToUsd } from './lib/ledger.mjs';

const MiB = 1024 * 1024;
const OA_HEADERS = { authorization: 'Bearer sk-test', 'content-type': 'application/json' };
const CHAT = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });

/** A non-streamed chat answer of about `bytes` bytes whose usage comes last. */
function bigAnswer(bytes) {
  const head = '{"id":"chatcmpl-big","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"';
  const tail = '"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}}';
  return Buffer.from(head + 'x'.repeat(bytes - head.length - tail.length) + tail);
}

/** POST that resolves { status, headers, body } once the answer is complete. */
function post(url, headers = OA_HEADERS, body = CHAT) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function gauge(proxy, name) {
  const text = (await request(`${proxy.adminUrl}/metrics`)).text;
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  assert.ok(m, `${name} in /metrics:\n${text}`);
  return Number(m[1]);
}

async function waitForGauge(proxy, name, want, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await gauge(proxy, name);
    if (value === want) return;
    if (Date.now() > deadline) assert.fail(`${name} stayed ${value}, expected ${want}`);
    await sleep(20);
  }
}

test('two large held answers with a 4 MiB allowance: the second is relayed without the cost header and billed too_large; one ledger line each', async (t) => {
  const answer = bigAnswer(4 * MiB);
  // Held in a buffer that grows 1, 2, 4 MiB past its free 1 MiB: at 3 MiB it has 4 MiB
  // reserved, 3 MiB of it from the allowance.
  const FIRST_PART = 3 * MiB;
  let releaseA;
  const aMayFinish = new Promise((resolve) => { releaseA = resolve; });
  const up = await startUpstream({
    handler: async (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
      if (req.headers['x-tag'] === 'A') {
        await writeAsync(res, answer.subarray(0, FIRST_PART));
        await aMayFinish;
        res.end(answer.subarray(FIRST_PART));
      } else {
        res.end(answer);
      }
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url }),
    server: { max_buffered_bytes: 4 * MiB },
    admin: { listen: '127.0.0.1:0', token_env: '' },
  });
  await proxy.waitForAdmin();
  assert.equal(await gauge(proxy, 'spendgate_max_buffered_bytes'), 4 * MiB);
  const ledger = ledgerPathOf(proxy);

  const a = post(`${proxy.url}/v1/chat/completions`, { ...OA_HEADERS, 'x-tag': 'A' });
  // A holds 3 MiB: 3 MiB of the allowance are taken, 1 MiB is left. B's hold takes it at 1 MiB
  // and finds no more at 2 MiB.
  await waitForGauge(proxy, 'spendgate_buffered_bytes', 3 * MiB);
  const b = await post(`${proxy.url}/v1/chat/completions`, { ...OA_HEADERS, 'x-tag': 'B' });
  releaseA();
  const aRes = await a;

  // B could not be held past 2 MiB: relayed from there as it came, whole, with the upstream's
  // length; its metering copy found no room either.
  assert.equal(b.status, 200);
  assert.ok(b.body.equals(answer), 'B arrives whole');
  assert.equal(b.headers['content-length'], String(answer.length));
  assert.equal(b.headers['x-spendgate-cost-usd'], undefined, 'B was not held: no cost header');
  const eb = await waitForEntry(ledger, b.headers['x-spendgate-request-id']);
  assertFields(eb, { status: 200, usage_source: 'estimated' });

  // A was held whole and priced from its usage.
  assert.equal(aRes.status, 200);
  assert.ok(aRes.body.equals(answer), 'A arrives whole');
  const ea = await waitForEntry(ledger, aRes.headers['x-spendgate-request-id']);
  assertFields(ea, { status: 200, usage_source: 'provider', input_tokens: 12, output_tokens: 34 });
  const aCost = picoToUsd(costOf([[12, '0.15'], [34, '0.60']]));
  assert.equal(aRes.headers['x-spendgate-cost-usd'], aCost);

  await sleep(150);
  assert.equal(readLedger(ledger).length, 2, 'one ledger line per request');
  await waitForGauge(proxy, 'spendgate_buffered_bytes', 0);
  await proxy.stopClean();
});

/** Peak resident memory of a process, in bytes (VmHWM). */
function peakRss(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

test('clients that do not read a brotli stream: the proxy decodes no more than it can send (peak memory stays small)', async (t) => {
  // 60 MiB of SSE events in a few KB of brotli: without back-pressure on the decoder, the
  // whole answer is decoded into memory before its first byte goes out, once per connection.
  const event = `data: {"choices":[{"index":0,"delta":{"content":"${'x'.repeat(200)}"}}]}\n\n`;
  const plain = Buffer.from(event.repeat(Math.floor(60 * MiB / event.length)));
  const bomb = zlib.brotliCompressSync(plain, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } });
  assert.ok(bomb.length < 1 * MiB, `bomb ${bomb.length} bytes`);
  const up = await startUpstream({
    handler: async (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'br', 'content-length': bomb.length });
      res.end(bomb);
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, { providers: await providers({ openai: up.url }) });
  const before = peakRss(proxy.proc.pid);

  const CLIENTS = 4;
  const clients = [];
  for (let i = 0; i < CLIENTS; i++) {
    clients.push(new Promise((resolve, reject) => {
      const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] });
      const req = http.request(`${proxy.url}/v1/chat/completions`, { method: 'POST', headers: OA_HEADERS, agent: false }, (res) => {
        // The first body bytes have come: stop reading, as a stalled client does.
        res.once('data', () => {
          res.pause();
          resolve({ req, res });
        });
      });
      req.on('error', reject);
      req.end(body);
    }));
  }
  const open = await Promise.all(clients);
  // Every connection has sent its first bytes, so whatever its decoder produced before them is
  // in the peak already.
  const grown = peakRss(proxy.proc.pid) - before;
  assert.ok(grown < 64 * MiB, `peak RSS grew by ${(grown / MiB).toFixed(1)} MiB for ${CLIENTS} stalled clients`);

  const ids = open.map(({ res }) => res.headers['x-spendgate-request-id']);
  for (const { req } of open) req.destroy();
  const ledger = ledgerPathOf(proxy);
  for (const id of ids) await waitForEntry(ledger, id, { timeout: 10_000 });
  await sleep(150);
  assert.equal(readLedger(ledger).length, CLIENTS, 'one ledger line per request');
  assert.ok(proxy.alive());
  await proxy.stopClean();
});
