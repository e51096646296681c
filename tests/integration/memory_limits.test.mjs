// Memory under large answers: a compressed answer is decoded no faster than its client reads it
// (docs/metering.md, "A held answer that fails").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, sleep } from './lib/fake_upstream.mjs';
import { ledgerPathOf, waitForEntry, readLedger } from './lib/ledger.mjs';

const MiB = 1024 * 1024;
const OA_HEADERS = { authorization: 'Bearer sk-test', 'content-type': 'application/json' };

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
