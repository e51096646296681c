// Request bodies with a Content-Encoding (docs/metering.md "Coded request bodies"): a gzip, br or
// deflate body to a metered endpoint is decoded, metered and enforced exactly like the plain body,
// and forwarded decoded (no Content-Encoding, its own Content-Length), so the upstream bills the
// bytes that were metered. A body that decodes beyond server.max_body_bytes gets 413, a coding
// spendgate cannot undo 415, a corrupt or truncated stream 400: none of them reaches the upstream.
// Free endpoints (file uploads, model lists) are forwarded untouched, coded or not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync, brotliCompressSync, deflateSync } from 'node:zlib';
import { startProxy, providers } from './lib/proxy.mjs';
import { raw } from './lib/yaml.mjs';
import { startUpstream, json, startSse, writeAsync } from './lib/fake_upstream.mjs';
import { request } from './lib/http.mjs';
import { ledgerPathOf, waitForEntry, readLedger, assertFields } from './lib/ledger.mjs';
import { assertProxyError, SAMPLE } from './lib/errors.mjs';
import { openaiChatStreamFrames, chatUsage } from './lib/openai_stream.mjs';
import {
  startMeteredUpstream, chatBody, chat, worstCasePico, assertDenied, parseBudgetMessage, picoToUsd,
} from './lib/enforcement.mjs';

const CODERS = {
  gzip: (b) => gzipSync(b),
  br: (b) => brotliCompressSync(b),
  deflate: (b) => deflateSync(b),
};

async function setup(t, { extra, upstream = {}, server = {}, handler } = {}) {
  const up = handler ? await startUpstream({ handler }) : await startMeteredUpstream(null, upstream);
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    server,
    extra,
  });
  return { up, proxy, ledger: ledgerPathOf(proxy) };
}

/** POST `plain` to the proxy, coded as `coding` ('plain' sends it as it is). */
function send(proxy, plain, coding, { path = SAMPLE.openai.path, headers = SAMPLE.openai.headers } = {}) {
  const body = coding === 'plain' ? Buffer.from(plain) : CODERS[coding](Buffer.from(plain));
  const codingHeader = coding === 'plain' ? {} : { 'content-encoding': coding };
  return request(`${proxy.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers, ...codingHeader },
    body,
  });
}

const describe = (r) => `${r.status} ${JSON.stringify(r.headers)} ${r.text}`;

test('a gzip, br or deflate chat request is metered like the plain one and forwarded decoded', async (t) => {
  // The upstream bills what it can read: prompt = the body bytes it got, completion = max_tokens.
  // A body it could not read as JSON would bill nothing and give no max_tokens.
  const { up, proxy, ledger } = await setup(t, {
    upstream: { usage: (rec, body) => ({ prompt: rec.body.length, completion: body.max_tokens ?? 0 }) },
  });
  const plain = chatBody({ model: 'gpt-4o-mini', maxTokens: 50, content: 'the same prompt, coded three ways' });
  const entries = {};
  for (const coding of ['plain', 'gzip', 'br', 'deflate']) {
    const r = await send(proxy, plain, coding);
    assert.equal(r.status, 200, `${coding}: ${describe(r)}`);
    const rec = up.requests.at(-1);
    assert.equal(rec.body.toString('utf8'), plain, `${coding}: the upstream must get the decoded body`);
    assert.equal(rec.headers['content-encoding'], undefined, `${coding}: Content-Encoding must not be forwarded`);
    assert.equal(rec.headers['content-length'], String(Buffer.byteLength(plain)), `${coding}: Content-Length of the decoded body`);
    entries[coding] = (await waitForEntry(ledger, r.headers['x-spendgate-request-id'])).json;
  }
  const metered = (e) => ({
    model: e.model, requested_model: e.requested_model, input_tokens: e.input_tokens,
    output_tokens: e.output_tokens, cost_usd: e.cost_usd, usage_source: e.usage_source,
  });
  assert.equal(entries.plain.requested_model, 'gpt-4o-mini');
  assert.equal(entries.plain.input_tokens, Buffer.byteLength(plain));
  for (const coding of ['gzip', 'br', 'deflate']) {
    assert.deepEqual(metered(entries[coding]), metered(entries.plain), `${coding} ledger line differs from the plain one`);
  }
  await proxy.stopClean();
});

test('a gzip chat stream without include_usage gets it injected into the decoded body', async (t) => {
  const usage = chatUsage({ prompt: 1200, completion: 80 });
  const { up, proxy, ledger } = await setup(t, {
    handler: async (req, res, rec) => {
      let body = {};
      try { body = JSON.parse(rec.body.toString()); } catch { /* not JSON: no usage asked for */ }
      startSse(res);
      const frames = openaiChatStreamFrames({ includeUsage: body.stream_options?.include_usage === true, usage });
      for (const f of frames) await writeAsync(res, f);
      res.end();
    },
  });
  const plain = chatBody({ model: 'gpt-4o-mini', maxTokens: 100, extra: { stream: true } });
  const r = await send(proxy, plain, 'gzip');
  assert.equal(r.status, 200, describe(r));
  const sent = JSON.parse(up.requests[0].body.toString());
  assert.equal(sent.stream_options?.include_usage, true, `not injected: ${up.requests[0].body}`);
  assert.equal(r.text, openaiChatStreamFrames({ includeUsage: false, usage }).join(''), 'the client sees no injected usage chunk');
  const e = await waitForEntry(ledger, r.headers['x-spendgate-request-id']);
  assertFields(e, { requested_model: 'gpt-4o-mini', usage_source: 'provider', input_tokens: 1200, output_tokens: 80 }, 'gzip stream');
  await proxy.stopClean();
});

test('hard budget, per-request cap and unknown_model: reject refuse coded requests like plain ones', async (t) => {
  const MAX = 50;
  const plain = chatBody({ model: 'gpt-4o-mini', maxTokens: MAX });
  const W = worstCasePico(Buffer.byteLength(plain), MAX);
  // Room for one worst case and a half: after one request that costs exactly its worst case, the
  // next does not fit.
  const { up, proxy, ledger } = await setup(t, {
    upstream: { usage: (rec, body) => ({ prompt: rec.body.length, completion: body.max_tokens ?? 0 }) },
    extra: {
      budgets: [{ name: 'team-daily', scope: 'team', match: { team: 'broke' }, period: 'day', limit_usd: raw(picoToUsd(W + W / 2n)), mode: 'hard' }],
      request_limits: { max_cost_usd: raw(picoToUsd(W * 10n)) },
    },
  });
  const team = { ...SAMPLE.openai.headers, 'x-spendgate-team': 'broke' };
  const first = await send(proxy, plain, 'gzip', { headers: team });
  assert.equal(first.status, 200, `room for one: ${describe(first)}`);
  await waitForEntry(ledger, first.headers['x-spendgate-request-id']);
  for (const coding of ['plain', 'gzip', 'br', 'deflate']) {
    const r = await send(proxy, plain, coding, { headers: team });
    const m = parseBudgetMessage(assertDenied(r, 'budget', { what: coding }).error.message);
    assert.equal(m.amount, W, `${coding}: the worst case comes from the decoded body`);
  }

  // Per-request cap: a max_tokens whose worst case is above max_cost_usd.
  const costly = chatBody({ model: 'gpt-4o-mini', maxTokens: 16384 });
  for (const coding of ['gzip', 'br']) {
    assertDenied(await send(proxy, costly, coding), 'request_cost', { what: coding });
  }
  // unknown_model: reject (the default) reads the model from the decoded body.
  const unpriced = chatBody({ model: 'no-such-model-2099', maxTokens: 5 });
  for (const coding of ['gzip', 'br']) {
    const r = await send(proxy, unpriced, coding);
    assert.equal(r.status, 400, `${coding}: ${describe(r)}`);
    assert.equal(r.headers['x-spendgate-denied'], 'unknown_model', `${coding}: ${describe(r)}`);
  }
  assert.equal(up.requests.length, 1, 'only the first request reached the upstream');
  assert.equal(readLedger(ledger).length, 1);
  await proxy.stopClean();
});

for (const format of ['openai', 'anthropic', 'gemini']) {
  test(`${format}: a body that decodes beyond max_body_bytes gets 413 and never reaches the upstream`, async (t) => {
    const { up, proxy } = await setup(t, { handler: (req, res) => json(res, 200, { ok: true }), server: { max_body_bytes: 1048576 } });
    // 4 MiB of JSON whitespace around the sample body: a few KB on the wire.
    const bomb = JSON.stringify(SAMPLE[format].body) + ' '.repeat(4 * 1024 * 1024);
    for (const coding of ['gzip', 'br']) {
      const r = await send(proxy, bomb, coding, SAMPLE[format]);
      assertProxyError(r, format, 413, `${format} ${coding} bomb`);
      assert.match(r.json().error.message, /larger than 1048576 bytes once decoded/);
    }
    assert.equal(up.requests.length, 0, 'a decompression bomb must not reach the upstream');
    await proxy.stopClean();
  });
}

for (const format of ['openai', 'anthropic', 'gemini']) {
  test(`${format}: a coding spendgate cannot undo gets 415, a corrupt or truncated stream 400; none is forwarded`, async (t) => {
    const { up, proxy } = await setup(t, { handler: (req, res) => json(res, 200, { ok: true }) });
    const plain = Buffer.from(JSON.stringify(SAMPLE[format].body));
    const gz = gzipSync(plain);
    const corrupt = Buffer.from(gz);
    corrupt[corrupt.length - 6] ^= 1; // the CRC32 in the trailer
    const cases = [
      { coding: 'zstd', body: plain, status: 415 },
      { coding: 'compress', body: plain, status: 415 },
      { coding: 'gzip, gzip, gzip, gzip', body: gz, status: 415 },
      { coding: 'gzip', body: corrupt, status: 400 },
      { coding: 'gzip', body: plain, status: 400 }, // says gzip, is plain JSON
      { coding: 'br', body: brotliCompressSync(plain).subarray(0, 5), status: 400 },
    ];
    for (const { coding, body, status } of cases) {
      const r = await request(`${proxy.url}${SAMPLE[format].path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...SAMPLE[format].headers, 'content-encoding': coding },
        body,
      });
      const what = `${format} Content-Encoding: ${coding}`;
      if (status === 415) {
        assert.equal(r.status, 415, `${what}: ${describe(r)}`);
        assert.ok(r.headers['x-spendgate-request-id'], what);
        assert.equal(r.headers['accept-encoding'], 'gzip, deflate, br', `${what}: 415 names what it reads`);
        const err = r.json();
        if (format === 'openai') {
          assert.deepEqual([err.error.type, err.error.code, err.error.param], ['invalid_request_error', 'unsupported_content_encoding', null], what);
        } else if (format === 'anthropic') {
          assert.deepEqual([err.type, err.error.type], ['error', 'invalid_request_error'], what);
        } else {
          assert.deepEqual([err.error.code, err.error.status], [415, 'INVALID_ARGUMENT'], what);
        }
        assert.match(err.error.message, /not supported/, what);
      } else {
        assertProxyError(r, format, 400, what);
        assert.match(r.json().error.message, /does not decode as its Content-Encoding/, what);
      }
    }
    assert.equal(up.requests.length, 0, 'an unreadable body must not reach the upstream');
    // Counted like the proxy's other errors.
    const metrics = await request(`${await proxy.waitForAdmin()}/metrics`);
    assert.match(metrics.text, /spendgate_requests_total\{[^}]*status="415"[^}]*\} 3/, 'the 415s are counted');
    assert.match(metrics.text, /spendgate_requests_total\{[^}]*status="400"[^}]*\} 3/, 'the 400s are counted');
    await proxy.stopClean();
  });
}

test('free endpoints forward a coded body untouched, whatever the coding', async (t) => {
  const { up, proxy } = await setup(t, { handler: (req, res) => json(res, 200, { ok: true }) });
  const upload = gzipSync(Buffer.from('{"purpose":"batch"}\n'.repeat(100)));
  for (const coding of ['gzip', 'zstd']) {
    const r = await request(`${proxy.url}/v1/files`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', authorization: 'Bearer sk-test', 'content-encoding': coding },
      body: upload,
    });
    assert.equal(r.status, 200, `${coding}: ${describe(r)}`);
    const rec = up.requests.at(-1);
    assert.equal(rec.headers['content-encoding'], coding, `${coding}: the coding is kept`);
    assert.ok(rec.body.equals(upload), `${coding}: the bytes are kept`);
  }
  await proxy.stopClean();
});
