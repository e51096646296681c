// Fields larger than a head can hold (audit 14 H1-H3, M2): a client's chunked trailer over 64 KiB
// on the proxy and the admin listener, an upstream's, and trailers relayed as headers. Each once
// ended the process ("field value too large") and lost every request in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { startProxy, providers, runCli, makeTempDir } from './lib/proxy.mjs';
import { startUpstream, json } from './lib/fake_upstream.mjs';
import { request, postJson, rawExchange } from './lib/http.mjs';
import { assertProxyError, SAMPLE } from './lib/errors.mjs';
import { OPENAI_CHAT_COMPLETION } from './lib/fixtures.mjs';
import { ledgerPathOf, waitForEntry, readLedger } from './lib/ledger.mjs';
import { gate } from './lib/enforcement.mjs';

/** A chunked POST of `body` whose trailer section is `trailer` (lines with their CRLF). */
function chunkedWithTrailer(port, target, headers, body, trailer) {
  return [
    `POST ${target} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Content-Type: application/json',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    'Transfer-Encoding: chunked',
    '',
    `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n${trailer}\r\n`,
  ].join('\r\n');
}

const HUGE_TRAILER = `X-T: ${'a'.repeat(70_000)}\r\n`;

test('a client trailer field over 64 KiB -> 431 in the caller\'s format (proxy) or a closed connection (admin); the proxy stays up and a request in flight is settled', async (t) => {
  const held = gate();
  const up = await startUpstream({
    handler: async (req, res) => {
      if (req.headers['x-hold']) await held;
      json(res, 200, OPENAI_CHAT_COMPLETION);
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
  });
  await proxy.waitForAdmin();

  // A request in flight while the others arrive: it must still be answered and get its line.
  const inFlight = postJson(`${proxy.url}${SAMPLE.openai.path}`, SAMPLE.openai.body,
    { ...SAMPLE.openai.headers, 'x-hold': '1' });
  while (up.requests.length < 1) await new Promise((r) => setTimeout(r, 10));

  for (const [format, target, headers] of [
    ['openai', SAMPLE.openai.path, SAMPLE.openai.headers],
    ['anthropic', SAMPLE.anthropic.path, SAMPLE.anthropic.headers],
    ['gemini', SAMPLE.gemini.path, SAMPLE.gemini.headers],
    ['openai', '/nothing/here', {}],  // no key, no route
  ]) {
    const wire = chunkedWithTrailer(proxy.port, target, headers, JSON.stringify(SAMPLE[format].body), HUGE_TRAILER);
    const r = await rawExchange(proxy.port, wire, { waitForClose: true });
    assert.ok(r.response.status, `${format} ${target}: no answer; raw: ${r.raw.toString().slice(0, 300)}`);
    assertProxyError(r.response, format, 431, `${format} ${target} 70 KB trailer`);
    assert.ok(proxy.alive(), `spendgate died:\n${proxy.describe()}`);
  }
  // Many small trailer fields over the limit in all: the same.
  const many = Array.from({ length: 3000 }, (_, i) => `X-T${i}: ${'v'.repeat(20)}\r\n`).join('');
  const r = await rawExchange(proxy.port, chunkedWithTrailer(proxy.port, SAMPLE.openai.path,
    SAMPLE.openai.headers, JSON.stringify(SAMPLE.openai.body), many), { waitForClose: true });
  assertProxyError(r.response, 'openai', 431, 'many trailer fields');

  // The admin listener, no token needed to send it: the connection is refused, the process lives.
  const adminPort = Number(new URL(proxy.adminUrl).port);
  const a = await rawExchange(adminPort, chunkedWithTrailer(adminPort, '/admin/reload', {}, '{}', HUGE_TRAILER),
    { waitForClose: true });
  assert.equal(a.closed, true, 'admin connection left open');
  assert.ok(proxy.alive(), `spendgate died on the admin listener:\n${proxy.describe()}`);
  const health = await request(`${proxy.adminUrl}/healthz`);
  assert.equal(health.status, 200);

  assert.equal(up.requests.length, 1, 'a refused request reached the upstream');
  held.open();
  const res = await inFlight;
  assert.equal(res.status, 200, res.text);
  await waitForEntry(ledgerPathOf(proxy), res.headers['x-spendgate-request-id']);

  // A trailer within the limit is read and dropped: never forwarded as a header.
  const small = await rawExchange(proxy.port, chunkedWithTrailer(proxy.port, SAMPLE.openai.path,
    { ...SAMPLE.openai.headers, Connection: 'close' }, JSON.stringify(SAMPLE.openai.body),
    'X-Trailer-Field: 1\r\nX-Spendgate-User: mallory\r\n'), { waitForClose: true });
  assert.equal(small.response.status, 200, small.raw.toString().slice(0, 300));
  assert.equal(up.requests.length, 2);
  assert.equal(up.requests[1].headers['x-trailer-field'], undefined);
  const entry = await waitForEntry(ledgerPathOf(proxy), small.response.headers['x-spendgate-request-id']);
  assert.notEqual(entry.json.user, 'mallory', 'a trailer field attributed the request');
  await proxy.stopClean();
});

test('upstream trailers: over the limit -> 502 and one ledger line; within it -> dropped, never response headers', async (t) => {
  const up = await startUpstream({
    handler: (req, res) => {
      const mode = req.headers['x-mode'];
      res.writeHead(200, { 'content-type': 'application/json', trailer: 'x-u, set-cookie, x-checksum' });
      res.write(JSON.stringify(OPENAI_CHAT_COMPLETION));
      if (mode === 'huge') {
        res.addTrailers({ 'x-t': '1', 'x-u': 'u'.repeat(200_000) });
      } else {
        res.addTrailers({ 'set-cookie': 'evil=1', 'x-checksum': 'abc' });
      }
      res.end();
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
  });
  for (const format of ['openai', 'anthropic']) {
    const res = await postJson(`${proxy.url}${SAMPLE[format].path}`, SAMPLE[format].body,
      { ...SAMPLE[format].headers, 'x-mode': 'huge' });
    assertProxyError(res, format, 502, `${format}: upstream trailer of 200 KB`);
    assert.ok(proxy.alive(), `spendgate died:\n${proxy.describe()}`);
    const entry = await waitForEntry(ledgerPathOf(proxy), res.headers['x-spendgate-request-id']);
    assert.equal(entry.json.status, 502);
  }
  const ok = await postJson(`${proxy.url}${SAMPLE.openai.path}`, SAMPLE.openai.body,
    { ...SAMPLE.openai.headers, 'x-mode': 'small' });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(JSON.parse(ok.text), OPENAI_CHAT_COMPLETION);
  for (const name of ['set-cookie', 'x-checksum', 'trailer']) {
    assert.equal(ok.headers[name], undefined, `upstream trailer ${name} relayed as a header`);
  }
  await waitForEntry(ledgerPathOf(proxy), ok.headers['x-spendgate-request-id']);
  assert.equal(readLedger(ledgerPathOf(proxy)).length, 3);
  await proxy.stopClean();
});

// Review of the fix above: Beast buffers a chunk-size line or a trailer section until its end
// with no limit of its own, so a client could grow the proxy's memory without bound by never
// ending one. The read buffer now stops at 128 KiB of what the parser has not taken.
test('a chunk-size line or trailer section that never ends -> 431 once 128 KiB are buffered, proxy and admin stay up', async (t) => {
  const up = await startUpstream({ handler: async (req, res) => json(res, 200, OPENAI_CHAT_COMPLETION) });
  t.after(() => up.close());
  const proxy = await startProxy(t, { providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }) });
  await proxy.waitForAdmin();
  const head = (target) => [`POST ${target} HTTP/1.1`, `Host: 127.0.0.1:${proxy.port}`,
    ...Object.entries(SAMPLE.anthropic.headers).map(([k, v]) => `${k}: ${v}`), 'Transfer-Encoding: chunked', '', ''].join('\r\n');
  const endless = [
    ['a chunk extension without end', `5;ext=${'e'.repeat(300_000)}`],
    ['many small trailer fields without the final CRLF', `2\r\n{}\r\n0\r\n${'X-T: 1\r\n'.repeat(40_000)}`],
  ];
  for (const [what, tail] of endless) {
    const r = await rawExchange(proxy.port, head(SAMPLE.anthropic.path) + tail, { waitForClose: true });
    assert.ok(r.response.status, `${what}: no answer; raw: ${r.raw.toString().slice(0, 300)}`);
    assertProxyError(r.response, 'anthropic', 431, what);
    assert.ok(proxy.alive(), `spendgate died:\n${proxy.describe()}`);
  }
  // The admin listener the same way (its answer is a 431 too).
  const admin = await rawExchange(proxy.adminPort ?? Number(new URL(proxy.adminUrl).port),
    `POST /admin/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=${'e'.repeat(300_000)}`, { waitForClose: true });
  assert.equal(admin.response.status, 431, admin.raw.toString().slice(0, 300));
  assert.equal((await request(`${proxy.adminUrl}/healthz`)).status, 200);
  assert.equal(up.requests.length, 0, 'nothing forwarded');
  await proxy.stopClean();
});

test('server.max_header_bytes above 64 KiB is refused by check with FILE:LINE:COL', () => {
  const dir = makeTempDir();
  const file = path.join(dir, 'big.yaml');
  writeFileSync(file, 'server:\n  max_header_bytes: 1048576\n');
  const r = runCli(['check', '-c', file]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /big\.yaml:2:21: server\.max_header_bytes: must be between 1 and 65536, got 1048576/);
});
