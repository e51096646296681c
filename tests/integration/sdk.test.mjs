// End to end with the official SDKs: the result through the proxy must equal the result the SDK gets
// when talking straight to the (fake) provider.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startProxy, providers, closedPort } from './lib/proxy.mjs';
import { startUpstream, json, startSse, sseFrame, writeAsync } from './lib/fake_upstream.mjs';
import {
  OPENAI_CHAT_COMPLETION, ANTHROPIC_MESSAGE, openaiChatChunks, anthropicEvents,
} from './lib/fixtures.mjs';

/** A fake that behaves like api.openai.com + api.anthropic.com for the calls the SDKs make. */
function providerHandler() {
  return async (req, res, rec) => {
    let body = {};
    try { body = JSON.parse(rec.body.toString() || '{}'); } catch { /* not JSON */ }
    if (req.url.startsWith('/v1/messages')) {
      if (body.stream) {
        startSse(res, { 'request-id': 'req_011Anthropic' });
        for (const e of anthropicEvents()) await writeAsync(res, sseFrame(e));
        return res.end();
      }
      return json(res, 200, ANTHROPIC_MESSAGE, { 'request-id': 'req_011Anthropic' });
    }
    if (req.url.startsWith('/v1/chat/completions')) {
      if (body.stream) {
        const includeUsage = body.stream_options?.include_usage === true;
        startSse(res, { 'x-request-id': 'req_openai_stream' });
        for (const c of openaiChatChunks({ includeUsage })) await writeAsync(res, `data: ${JSON.stringify(c)}\n\n`);
        await writeAsync(res, 'data: [DONE]\n\n');
        return res.end();
      }
      return json(res, 200, OPENAI_CHAT_COMPLETION, { 'x-request-id': 'req_openai_plain', 'openai-processing-ms': '321' });
    }
    return json(res, 404, { error: { message: 'unknown', type: 'invalid_request_error', param: null, code: null } });
  };
}

async function setup(t) {
  const up = await startUpstream({ handler: providerHandler() });
  t.after(() => up.close());
  const proxy = await startProxy(t, { providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }) });
  return { up, proxy };
}

const openaiClient = (baseURL) => new OpenAI({ apiKey: 'sk-test', baseURL, maxRetries: 0, timeout: 30_000 });
const anthropicClient = (baseURL) => new Anthropic({ apiKey: 'sk-ant-test', baseURL, maxRetries: 0, timeout: 30_000 });

// Headers that a proxy legitimately changes.
const VOLATILE_HEADERS = new Set(['host', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'accept-encoding']);
function endToEndHeaders(h) {
  return Object.fromEntries(Object.entries(h).filter(([k]) => !VOLATILE_HEADERS.has(k)));
}

/** The Anthropic SDK's auth header (x-api-key, or Authorization: Bearer in newer SDKs) must arrive unchanged. */
function assertSameAnthropicAuth(viaProxy, direct) {
  const auth = (r) => ({ 'x-api-key': r.headers['x-api-key'], authorization: r.headers.authorization });
  assert.ok(Object.values(auth(direct)).some((v) => v && v.includes('sk-ant-test')), `SDK sent no key? ${JSON.stringify(auth(direct))}`);
  assert.deepEqual(auth(viaProxy), auth(direct), 'the SDK auth header must reach the upstream unchanged');
}

async function collect(stream) {
  const out = [];
  for await (const x of stream) out.push(x);
  return out;
}

const CHAT_REQ = { model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'Say hello' }] };
const MSG_REQ = { model: 'claude-3-5-haiku-20241022', max_tokens: 50, messages: [{ role: 'user', content: 'Say hello' }] };

test('openai SDK: chat.completions.create (plain) through the proxy equals direct', async (t) => {
  const { up, proxy } = await setup(t);
  const direct = await openaiClient(`${up.url}/v1`).chat.completions.create(CHAT_REQ);
  const viaProxy = await openaiClient(`${proxy.url}/v1`).chat.completions.create(CHAT_REQ);
  assert.deepEqual(viaProxy, direct);
  assert.deepEqual(viaProxy, OPENAI_CHAT_COMPLETION);
  assert.equal(viaProxy.usage.total_tokens, 29);
  const [d, p] = up.requests;
  assert.equal(p.headers.authorization, 'Bearer sk-test', 'auth header must reach the upstream unchanged');
  assert.equal(p.method, d.method);
  assert.equal(p.url, d.url);
  assert.deepEqual(JSON.parse(p.body), JSON.parse(d.body));
  assert.deepEqual(endToEndHeaders(p.headers), endToEndHeaders(d.headers));

  // withResponse exposes the relayed upstream headers
  const { response } = await openaiClient(`${proxy.url}/v1`).chat.completions.create(CHAT_REQ).withResponse();
  assert.equal(response.headers.get('x-request-id'), 'req_openai_plain');
  assert.equal(response.headers.get('openai-processing-ms'), '321');
  assert.ok(response.headers.get('x-spendgate-request-id'));
  await proxy.stopClean();
});

test('openai SDK: stream with stream_options.include_usage through the proxy equals direct (usage chunk kept)', async (t) => {
  const { up, proxy } = await setup(t);
  const req = { ...CHAT_REQ, stream: true, stream_options: { include_usage: true } };
  const direct = await collect(await openaiClient(`${up.url}/v1`).chat.completions.create(req));
  const viaProxy = await collect(await openaiClient(`${proxy.url}/v1`).chat.completions.create(req));
  assert.deepEqual(viaProxy, direct);
  assert.deepEqual(viaProxy, openaiChatChunks({ includeUsage: true }));
  const last = viaProxy.at(-1);
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.total_tokens, 15, 'the usage chunk the client asked for must be delivered');
  const p = up.requests[1];
  assert.equal(p.headers.authorization, 'Bearer sk-test');
  assert.deepEqual(JSON.parse(p.body), JSON.parse(up.requests[0].body));
  assert.deepEqual(endToEndHeaders(p.headers), endToEndHeaders(up.requests[0].headers));
  await proxy.stopClean();
});

test('openai SDK: stream without include_usage through the proxy gives the client the same chunks as direct (no extra usage chunk)', async (t) => {
  const { up, proxy } = await setup(t);
  const req = { ...CHAT_REQ, stream: true };
  const direct = await collect(await openaiClient(`${up.url}/v1`).chat.completions.create(req));
  const viaProxy = await collect(await openaiClient(`${proxy.url}/v1`).chat.completions.create(req));
  assert.ok(viaProxy.every((c) => c.choices.length > 0),
    `client received a chunk with empty choices (the injected usage chunk?): ${JSON.stringify(viaProxy.at(-1))}`);
  assert.ok(viaProxy.every((c) => c.usage === undefined || c.usage === null), 'client received usage it did not ask for');
  // The upstream adds "usage": null to every chunk once include_usage is on; ignore that field only.
  const strip = (chunks) => chunks.map(({ usage, ...rest }) => (usage === null ? rest : { usage, ...rest }));
  assert.deepEqual(strip(viaProxy), strip(direct));
  assert.equal(viaProxy.map((c) => c.choices[0].delta.content ?? '').join(''), 'Hello! How can I help?');
  assert.equal(up.requests[1].headers.authorization, 'Bearer sk-test');
  await proxy.stopClean();
});

test('openai stream without include_usage: proxy asks the upstream for usage (stream_options.include_usage injected)', async (t) => {
  const { up, proxy } = await setup(t);
  await collect(await openaiClient(`${proxy.url}/v1`).chat.completions.create({ ...CHAT_REQ, stream: true }));
  const sent = JSON.parse(up.requests[0].body);
  assert.equal(sent.stream_options?.include_usage, true, `upstream body: ${up.requests[0].body}`);
  const { stream_options, ...rest } = sent;
  assert.deepEqual(rest, { ...CHAT_REQ, stream: true }, 'nothing else in the body may change');
  await proxy.stopClean();
});

test('anthropic SDK: messages.create (plain) through the proxy equals direct', async (t) => {
  const { up, proxy } = await setup(t);
  const direct = await anthropicClient(up.url).messages.create(MSG_REQ);
  const viaProxy = await anthropicClient(proxy.url).messages.create(MSG_REQ);
  assert.deepEqual(viaProxy, direct);
  assert.deepEqual(viaProxy, ANTHROPIC_MESSAGE);
  const [d, p] = up.requests;
  assertSameAnthropicAuth(p, d);
  assert.equal(p.headers['anthropic-version'], d.headers['anthropic-version']);
  assert.equal(p.url, d.url);
  assert.deepEqual(JSON.parse(p.body), JSON.parse(d.body));
  assert.deepEqual(endToEndHeaders(p.headers), endToEndHeaders(d.headers));
  await proxy.stopClean();
});

test('anthropic SDK: messages.create stream through the proxy equals direct (events and final usage)', async (t) => {
  const { up, proxy } = await setup(t);
  const req = { ...MSG_REQ, stream: true };
  const direct = await collect(await anthropicClient(up.url).messages.create(req));
  const viaProxy = await collect(await anthropicClient(proxy.url).messages.create(req));
  assert.deepEqual(viaProxy, direct);
  // (the SDK itself drops `ping` events)
  assert.deepEqual(viaProxy, anthropicEvents().map((e) => e.data).filter((e) => e.type !== 'ping'));
  assert.equal(viaProxy.find((e) => e.type === 'message_delta').usage.output_tokens, 89);
  const p = up.requests[1];
  assertSameAnthropicAuth(p, up.requests[0]);
  assert.deepEqual(JSON.parse(p.body), JSON.parse(up.requests[0].body));
  assert.deepEqual(endToEndHeaders(p.headers), endToEndHeaders(up.requests[0].headers));

  // the high-level stream helper assembles the same final message
  const fDirect = await anthropicClient(up.url).messages.stream(MSG_REQ).finalMessage();
  const fProxy = await anthropicClient(proxy.url).messages.stream(MSG_REQ).finalMessage();
  assert.deepEqual(fProxy, fDirect);
  assert.equal(fProxy.content[0].text, "I'm Claude, an AI assistant.");
  assert.equal(fProxy.usage.output_tokens, 89);
  await proxy.stopClean();
});

test('SDKs surface proxy-generated errors with the proxy\'s status and error code', async (t) => {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const proxy = await startProxy(t, { providers: await providers({ openai: dead, anthropic: dead, gemini: dead }) });
  await assert.rejects(openaiClient(`${proxy.url}/v1`).chat.completions.create(CHAT_REQ), (err) => {
    assert.ok(err instanceof OpenAI.APIError, `not an APIError: ${err}`);
    assert.equal(err.status, 502);
    assert.equal(err.code, 'upstream_unavailable');
    assert.equal(err.param, null);
    return true;
  });
  await assert.rejects(anthropicClient(proxy.url).messages.create(MSG_REQ), (err) => {
    assert.ok(err instanceof Anthropic.APIError, `not an APIError: ${err}`);
    assert.equal(err.status, 502);
    assert.equal(err.error?.type, 'error');
    assert.equal(err.error?.error?.type, 'api_error');
    return true;
  });
  await proxy.stopClean();
});
