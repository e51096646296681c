// Streaming relay: SSE events forwarded as they arrive, big chunked bodies intact, slow readers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, startSse, sseFrame, writeAsync, sleep } from './lib/fake_upstream.mjs';
import { request, withTimeout } from './lib/http.mjs';
import { anthropicEvents, geminiChunks, openaiChatChunks } from './lib/fixtures.mjs';
import { openaiChatStreamFrames, chatUsage, chatCompletion } from './lib/openai_stream.mjs';
import { ledgerPathOf, waitForEntry } from './lib/ledger.mjs';
import OpenAI from 'openai';

async function setup(t, handler, proxyOpts = {}) {
  const up = await startUpstream({ handler });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    ...proxyOpts,
  });
  return { up, proxy };
}

/** Streams a response; calls onData(chunk, t) for each piece; resolves {status, headers, body}. */
function streamRequest(url, { method = 'POST', headers = {}, body, onData, agent = false, timeout = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => { chunks.push(c); onData?.(c, performance.now()); });
      res.on('aborted', () => reject(new Error('response aborted')));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.setTimeout(timeout, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const STREAM_CASES = {
  openai: {
    path: '/v1/chat/completions',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    // include_usage given by the client, so the proxy has nothing to inject or strip.
    body: { model: 'gpt-4o-mini', max_tokens: 20, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] },
    frames: () => [...openaiChatChunks({ includeUsage: true }).map((c) => sseFrame({ data: c })), 'data: [DONE]\n\n'],
  },
  'openai (no include_usage)': {
    path: '/v1/chat/completions',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    // The proxy may inject include_usage upstream; this fake sends no usage chunk either way.
    body: { model: 'gpt-4o-mini', max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'hi' }] },
    frames: () => [...openaiChatChunks({ includeUsage: false }).map((c) => sseFrame({ data: c })), 'data: [DONE]\n\n'],
  },
  anthropic: {
    path: '/v1/messages',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' },
    body: { model: 'claude-3-5-haiku-20241022', max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'hi' }] },
    frames: () => anthropicEvents().map(sseFrame),
  },
  gemini: {
    path: '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': 'gm-test' },
    body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generationConfig: { maxOutputTokens: 20 } },
    // Gemini uses CRLF framing
    frames: () => geminiChunks().map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`),
  },
};

for (const [format, c] of Object.entries(STREAM_CASES)) {
  test(`${format}: SSE events are relayed as they arrive (event 1 reaches the client before the upstream writes the rest)`, async (t) => {
    const frames = c.frames();
    const first = frames[0];
    const marks = {};
    const { proxy } = await setup(t, async (req, res) => {
      startSse(res, { 'x-upstream-stream': 'yes' });
      await writeAsync(res, first);
      marks.upstreamWrote1 = performance.now();
      await sleep(1500);
      marks.upstreamWritingRest = performance.now();
      for (const f of frames.slice(1)) await writeAsync(res, f);
      res.end();
    });
    let received = '';
    const result = await streamRequest(`${proxy.url}${c.path}`, {
      headers: c.headers,
      body: JSON.stringify(c.body),
      onData: (chunk, now) => {
        received += chunk.toString('utf8');
        if (marks.clientGot1 === undefined && received.includes(first)) marks.clientGot1 = now;
      },
    });
    assert.equal(result.status, 200);
    assert.match(result.headers['content-type'], /^text\/event-stream/);
    assert.equal(result.headers['x-upstream-stream'], 'yes');
    assert.ok(result.headers['x-spendgate-request-id']);
    assert.ok(marks.clientGot1 !== undefined, `client never saw the first event intact; got:\n${received}`);
    assert.ok(marks.clientGot1 < marks.upstreamWritingRest,
      `first event was held back: client got it ${(marks.clientGot1 - marks.upstreamWrote1).toFixed(0)} ms after the upstream wrote it, ` +
      `i.e. only after the upstream resumed writing (${(marks.upstreamWritingRest - marks.upstreamWrote1).toFixed(0)} ms)`);
    assert.equal(result.body.toString('utf8'), frames.join(''), 'stream bytes must be relayed unchanged');
    await proxy.stopClean();
  });
}

test('SSE without content-length, several events in one write and one event split over writes, relayed intact', async (t) => {
  const frames = anthropicEvents().map(sseFrame);
  const all = frames.join('');
  const { proxy } = await setup(t, async (req, res) => {
    startSse(res);
    await writeAsync(res, frames[0] + frames[1] + frames[2]);
    const f = frames[3];
    await writeAsync(res, f.slice(0, 7));
    await sleep(50);
    await writeAsync(res, f.slice(7));
    for (const g of frames.slice(4)) await writeAsync(res, g);
    res.end();
  });
  const c = STREAM_CASES.anthropic;
  const result = await streamRequest(`${proxy.url}${c.path}`, { headers: c.headers, body: JSON.stringify(c.body) });
  assert.equal(result.status, 200);
  assert.equal(result.body.toString('utf8'), all);
  await proxy.stopClean();
});

/** 5 MB of random data written chunked by the upstream, respecting backpressure. */
function bigBodyHandler(payload, pieceSize = 61_440) {
  return async (req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-payload-sha256': createHash('sha256').update(payload).digest('hex') });
    for (let off = 0; off < payload.length; off += pieceSize) {
      const ok = res.write(payload.subarray(off, off + pieceSize));
      if (!ok) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  };
}

test('5 MB chunked body is relayed intact', async (t) => {
  const payload = randomBytes(5 * 1024 * 1024);
  const digest = createHash('sha256').update(payload).digest('hex');
  const { up, proxy } = await setup(t, bigBodyHandler(payload));
  const res = await request(`${proxy.url}/v1/files/file-big/content`, { headers: { authorization: 'Bearer sk-test' }, timeout: 60_000 });
  assert.equal(res.status, 200);
  assert.equal(up.requests.length, 1);
  assert.equal(res.body.length, payload.length);
  assert.equal(createHash('sha256').update(res.body).digest('hex'), digest);
  await proxy.stopClean();
});

test('slow-reading client still receives the whole 5 MB body', async (t) => {
  const payload = randomBytes(5 * 1024 * 1024);
  const digest = createHash('sha256').update(payload).digest('hex');
  const { proxy } = await setup(t, bigBodyHandler(payload), { server: { request_timeout: '120s' } });
  const res = await withTimeout(new Promise((resolve, reject) => {
    const req = http.request(`${proxy.url}/v1/files/file-big/content`, { headers: { authorization: 'Bearer sk-test' }, agent: false }, async (res) => {
      try {
        const hash = createHash('sha256');
        let total = 0;
        res.pause();
        await sleep(1000); // let every buffer along the way fill up first
        let sinceSleep = 0;
        for await (const chunk of res) {
          hash.update(chunk);
          total += chunk.length;
          sinceSleep += chunk.length;
          if (sinceSleep >= 128 * 1024) { sinceSleep = 0; await sleep(20); }
        }
        resolve({ status: res.statusCode, total, digest: hash.digest('hex') });
      } catch (e) { reject(e); }
    });
    req.on('error', reject);
    req.end();
  }), 90_000, 'slow read of 5 MB');
  assert.equal(res.status, 200);
  assert.equal(res.total, payload.length);
  assert.equal(res.digest, digest);
  await proxy.stopClean();
});

test('large request body (900 KB, under max_body_bytes) is forwarded intact, chunked and with content-length', async (t) => {
  const { up, proxy } = await setup(t, (req, res, rec) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(createHash('sha256').update(rec.body).digest('hex'));
  });
  const text = 'x'.repeat(900 * 1024);
  const body = Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: text }] }));
  const digest = createHash('sha256').update(body).digest('hex');
  const r1 = await request(`${proxy.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test', 'content-length': body.length }, body,
  });
  assert.equal(r1.status, 200, r1.text.slice(0, 500));
  assert.equal(r1.text, digest);
  // chunked request body
  const r2 = await new Promise((resolve, reject) => {
    const req = http.request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test', 'transfer-encoding': 'chunked' },
    }, (res) => {
      const cs = []; res.on('data', (d) => cs.push(d)); res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(cs).toString() }));
    });
    req.on('error', reject);
    for (let off = 0; off < body.length; off += 100_000) req.write(body.subarray(off, off + 100_000));
    req.end();
  });
  assert.equal(r2.status, 200, r2.text.slice(0, 500));
  assert.equal(r2.text, digest);
  assert.equal(up.requests.length, 2);
  await proxy.stopClean();
});

test('one very large SSE event (1.5 MB data line, e.g. a streamed base64 image) is relayed intact', async (t) => {
  const b64 = randomBytes(1_100_000).toString('base64'); // ~1.47 MB
  const frames = [
    sseFrame({ event: 'response.created', data: { type: 'response.created', sequence_number: 0, response: { id: 'resp_1', model: 'gpt-4o-mini', usage: null } } }),
    sseFrame({ event: 'response.image_generation_call.partial_image', data: { type: 'response.image_generation_call.partial_image', sequence_number: 1, partial_image_b64: b64 } }),
    sseFrame({ event: 'response.completed', data: { type: 'response.completed', sequence_number: 2, response: { id: 'resp_1', model: 'gpt-4o-mini', status: 'completed', usage: { input_tokens: 10, input_tokens_details: { cached_tokens: 0 }, output_tokens: 16, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 26 } } } }),
  ];
  const { proxy } = await setup(t, async (req, res) => {
    startSse(res);
    for (const f of frames) {
      const ok = res.write(f);
      if (!ok) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  });
  const result = await streamRequest(`${proxy.url}/v1/responses`, {
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, input: 'draw a cat', max_output_tokens: 100 }),
  });
  assert.equal(result.status, 200);
  assert.equal(result.body.length, Buffer.byteLength(frames.join('')));
  assert.ok(result.body.equals(Buffer.from(frames.join(''))), 'large event altered');
  await proxy.stopClean();
});

test('gemini streamGenerateContent without alt=sse (JSON array, chunked) is relayed as it arrives', async (t) => {
  const [c1, c2] = geminiChunks();
  const part1 = `[${JSON.stringify(c1)}\r\n`;
  const part2 = `,\r\n${JSON.stringify(c2)}]`;
  const marks = {};
  const { proxy } = await setup(t, async (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
    await writeAsync(res, part1);
    await sleep(1500);
    marks.upstreamWritingRest = performance.now();
    await writeAsync(res, part2);
    res.end();
  });
  let received = '';
  const result = await streamRequest(`${proxy.url}/v1beta/models/gemini-2.0-flash:streamGenerateContent`, {
    headers: { 'content-type': 'application/json', 'x-goog-api-key': 'gm-test' },
    body: JSON.stringify(STREAM_CASES.gemini.body),
    onData: (chunk, now) => {
      received += chunk.toString();
      if (marks.clientGot1 === undefined && received.includes(part1)) marks.clientGot1 = now;
    },
  });
  assert.equal(result.status, 200);
  assert.equal(result.body.toString(), part1 + part2);
  assert.ok(marks.clientGot1 !== undefined && marks.clientGot1 < marks.upstreamWritingRest,
    'first array element was held back until the upstream wrote the rest');
  await proxy.stopClean();
});

test('an SSE answer the upstream sends with a Content-Length, shortened by the usage-chunk filter, goes to the client re-chunked and whole', async (t) => {
  // A valid HTTP/1.1 stream (what buffering gateways and recorded replays send): the usage
  // chunk spendgate asked for comes out, so the upstream's length would promise more bytes than
  // follow and a client reading to the end would hang.
  const { proxy } = await setup(t, (req, res) => {
    const frames = openaiChatStreamFrames({ includeUsage: true, usage: chatUsage({ prompt: 12, completion: 5 }) });
    const body = frames.join('');
    res.writeHead(200, { 'content-type': 'text/event-stream', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  const body = { model: 'gpt-4o-mini', stream: true, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] };
  const result = await withTimeout(
    streamRequest(`${proxy.url}/v1/chat/completions`, {
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify(body),
    }),
    10_000, 'the whole stream');
  assert.equal(result.status, 200);
  assert.equal(result.headers['content-length'], undefined, 'no stale length');
  assert.equal(result.headers['transfer-encoding'], 'chunked');
  const expected = openaiChatStreamFrames({ includeUsage: false }).join('');
  assert.equal(result.body.toString('utf8'), expected, 'the stream as without include_usage: no usage chunk, no "usage":null');
  const entry = await waitForEntry(ledgerPathOf(proxy), result.headers['x-spendgate-request-id']);
  assert.equal(entry.json.input_tokens, 12, entry.raw);
  assert.equal(entry.json.output_tokens, 5, entry.raw);
  assert.equal(entry.json.usage_source, 'provider', entry.raw);
  await proxy.stopClean();
});

test('interim answers (103 Early Hints, an unsolicited 100 Continue) are dropped and the final answer relayed and metered', async (t) => {
  const { up, proxy } = await setup(t, (req, res) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    res.writeContinue();
    const completion = chatCompletion({ usage: chatUsage({ prompt: 10, completion: 7 }) });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(completion));
  });
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${proxy.url}/v1`, maxRetries: 0, timeout: 10_000 });
  const { data, response } = await client.chat.completions
    .create({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })
    .withResponse();
  assert.equal(response.status, 200);
  assert.equal(data.usage.completion_tokens, 7);
  assert.ok(Number(response.headers.get('x-spendgate-cost-usd')) > 0, 'priced');
  const entry = await waitForEntry(ledgerPathOf(proxy), response.headers.get('x-spendgate-request-id'));
  assert.equal(entry.json.status, 200, entry.raw);
  assert.equal(entry.json.input_tokens, 10, entry.raw);
  assert.equal(entry.json.output_tokens, 7, entry.raw);
  // Raw: the client sees one answer, the final one, and the connection stays usable.
  const raw = await withTimeout(
    request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    }),
    10_000, 'the final answer');
  assert.equal(raw.status, 200);
  assert.equal(raw.json().usage.prompt_tokens, 10);
  assert.equal(up.requests.length, 2, 'each request reached the upstream once');
  await proxy.stopClean();
});
