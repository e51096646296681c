// Client goes away mid-stream: the proxy must drop the upstream connection promptly and keep serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json, startSse, sseFrame, writeAsync, sleep } from './lib/fake_upstream.mjs';
import { request, withTimeout } from './lib/http.mjs';
import { anthropicEvents, openaiChatChunks, OPENAI_CHAT_COMPLETION } from './lib/fixtures.mjs';

const CLOSE_DEADLINE_MS = 5000; // "promptly": ~2 s expected, generous for a noisy machine

const CASES = {
  openai: {
    path: '/v1/chat/completions',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: { model: 'gpt-4o-mini', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'tell me a story' }] },
    first: sseFrame({ data: openaiChatChunks({ includeUsage: true })[0] }),
    next: (i) => sseFrame({ data: { ...openaiChatChunks({ includeUsage: true })[1], choices: [{ index: 0, delta: { content: ` w${i}` }, logprobs: null, finish_reason: null }] } }),
    marker: 'chat.completion.chunk',
  },
  anthropic: {
    path: '/v1/messages',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' },
    body: { model: 'claude-3-5-haiku-20241022', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'tell me a story' }] },
    first: sseFrame(anthropicEvents()[0]),
    next: (i) => sseFrame({ event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ` w${i}` } } }),
    marker: 'message_start',
  },
};

/**
 * mode 'silent': after the first event the upstream writes nothing (proxy must notice the client EOF).
 * mode 'trickle': the upstream keeps writing an event every 100 ms.
 */
async function runDisconnect(t, format, mode) {
  const c = CASES[format];
  const streamConn = {};
  let stopTrickle = false;
  const up = await startUpstream({
    handler: async (req, res, rec) => {
      if (req.url.includes('/ok')) return json(res, 200, OPENAI_CHAT_COMPLETION);
      streamConn.info = up.connections.find((x) => x.id === rec.connId);
      startSse(res);
      await writeAsync(res, c.first);
      if (mode === 'trickle') {
        for (let i = 0; !stopTrickle && !res.destroyed && i < 600; i++) {
          await sleep(100);
          if (res.destroyed || res.socket?.destroyed) break;
          res.write(c.next(i));
        }
      }
      // silent: never finish; the connection stays open until someone closes it
    },
  });
  t.after(() => { stopTrickle = true; return up.close(); });
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    server: { request_timeout: '120s', idle_timeout: '60s' },
  });

  // Client: abort as soon as the first event is in.
  const abortedAt = await withTimeout(new Promise((resolve, reject) => {
    const req = http.request(`${proxy.url}${c.path}`, { method: 'POST', headers: c.headers, agent: false }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`stream status ${res.statusCode}`));
      let buf = '';
      res.on('data', (d) => {
        buf += d.toString();
        if (buf.includes(c.marker)) {
          const now = performance.now();
          req.destroy();
          resolve(now);
        }
      });
      res.on('error', () => {});
    });
    req.on('error', () => {});
    req.end(JSON.stringify(c.body));
  }), 20_000, 'first SSE event through the proxy');

  assert.ok(streamConn.info, 'upstream connection of the stream not found');
  const closedAt = await withTimeout(streamConn.info.closed, CLOSE_DEADLINE_MS,
    `upstream connection to be closed by the proxy after the client disconnected (${format}, ${mode})`);
  assert.ok(closedAt >= abortedAt);
  t.diagnostic(`${format}/${mode}: upstream closed ${(closedAt - abortedAt).toFixed(0)} ms after client abort`);

  // Proxy still alive and serving.
  assert.ok(proxy.alive(), `proxy died after client disconnect\n${proxy.describe()}`);
  const res = await request(`${proxy.url}/v1/ok`, { headers: { authorization: 'Bearer sk-test' } });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json(), OPENAI_CHAT_COMPLETION);
  // And a second streaming request works after the aborted one.
  const again = await request(`${proxy.url}/v1/ok`, { headers: { authorization: 'Bearer sk-test' } });
  assert.equal(again.status, 200);
  await proxy.stopClean();
}

for (const format of Object.keys(CASES)) {
  for (const mode of ['silent', 'trickle']) {
    test(`${format}: client aborts after first SSE event (${mode} upstream) -> upstream connection closed promptly, proxy keeps serving`,
      (t) => runDisconnect(t, format, mode));
  }
}

// A stream's: a non-streamed metered call's answer is still read for its usage (wait_out.test.mjs).
test('client aborts a stream while the proxy is still waiting for upstream headers -> upstream connection closed, proxy keeps serving', async (t) => {
  const conns = {};
  const up = await startUpstream({
    handler: (req, res, rec) => {
      if (req.url.includes('/ok')) return json(res, 200, { ok: true });
      conns.info = up.connections.find((x) => x.id === rec.connId);
      // never answer
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
    server: { first_byte_timeout: '60s', request_timeout: '120s' },
  });
  const req = http.request(`${proxy.url}/v1/chat/completions`, {
    method: 'POST', agent: false, headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
  });
  req.on('error', () => {});
  req.end(JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }));
  await up.waitForRequest(1);
  const abortedAt = performance.now();
  req.destroy();
  const closedAt = await withTimeout(conns.info.closed, CLOSE_DEADLINE_MS, 'upstream connection to close after the client left before headers');
  t.diagnostic(`upstream closed ${(closedAt - abortedAt).toFixed(0)} ms after client abort`);
  const res = await request(`${proxy.url}/v1/ok`);
  assert.equal(res.status, 200);
  await proxy.stopClean();
});

test('many aborted streams in a row do not leak or crash the proxy', async (t) => {
  const frames = anthropicEvents().map(sseFrame);
  const up = await startUpstream({
    handler: async (req, res) => {
      if (req.url.includes('/ok')) return json(res, 200, { ok: true });
      startSse(res);
      await writeAsync(res, frames[0]);
      for (let i = 0; i < 100 && !res.destroyed; i++) {
        await sleep(50);
        if (res.destroyed) break;
        res.write(frames[3]);
      }
      res.end();
    },
  });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }),
  });
  const c = CASES.anthropic;
  for (let i = 0; i < 15; i++) {
    await withTimeout(new Promise((resolve) => {
      const req = http.request(`${proxy.url}${c.path}`, { method: 'POST', headers: c.headers, agent: false }, (res) => {
        res.once('data', () => { req.destroy(); resolve(); });
        res.on('error', () => {});
      });
      req.on('error', () => resolve());
      req.end(JSON.stringify(c.body));
    }), 20_000, `aborted stream #${i}`);
  }
  // All upstream stream connections must end up closed.
  const streamConns = () => up.connections.filter((x) => x.closedAt === null);
  const deadline = performance.now() + 10_000;
  while (streamConns().length > 1 && performance.now() < deadline) await sleep(100); // at most one idle pooled conn may remain
  assert.ok(streamConns().length <= 1, `${streamConns().length} upstream connections still open after 15 aborted streams`);
  const res = await request(`${proxy.url}/v1/ok`);
  assert.equal(res.status, 200);
  assert.ok(proxy.alive());
  await proxy.stopClean();
});
