// Identity (SPEC §2 identity, §3, §4, §6): virtual keys are swapped for the provider's real key and
// never leave the proxy; passthrough keys are forwarded as-is and recorded only as a fingerprint;
// X-Spendgate-* attribution headers; passthrough: false denies unknown keys; `spendgate key new`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startProxy, providers, runCli } from './lib/proxy.mjs';
import { startUpstream, json } from './lib/fake_upstream.mjs';
import { request, postJson, rawExchange } from './lib/http.mjs';
import {
  ledgerPathOf, waitForEntry, waitForLedger, readLedger, ledgerText, assertFields, assertLedgerShape, assertCost, sha256hex, keyFingerprint,
} from './lib/ledger.mjs';
import { chatUsage, chatCompletion } from './lib/openai_stream.mjs';
import { admin } from './lib/enforcement.mjs';

const REAL = {
  openai: `sk-real-openai-${randomBytes(6).toString('hex')}`,
  anthropic: `sk-ant-real-${randomBytes(6).toString('hex')}`,
  gemini: `AIzaReal${randomBytes(6).toString('hex')}`,
};
const ENV = { SG_IT_OPENAI_KEY: REAL.openai, SG_IT_ANTHROPIC_KEY: REAL.anthropic, SG_IT_GEMINI_KEY: REAL.gemini };
const VK = `sg-vk-${randomBytes(16).toString('hex')}`;       // team-a-key
const VK2 = `sg-vk-${randomBytes(16).toString('hex')}`;      // full-key (all four attributes set)

/** Answers like each provider, with usage, for any path. */
function handler() {
  return async (req, res) => {
    if (req.url.startsWith('/v1/messages')) {
      return json(res, 200, {
        id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-3-5-haiku-20241022', content: [{ type: 'text', text: 'Hi' }],
        stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 100, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 10 },
      });
    }
    if (req.url.startsWith('/v1beta/')) {
      return json(res, 200, {
        candidates: [{ content: { parts: [{ text: 'Hi' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
        usageMetadata: { promptTokenCount: 100, candidatesTokenCount: 10, totalTokenCount: 110 }, modelVersion: 'gemini-2.0-flash',
      });
    }
    if (req.method === 'GET') return json(res, 200, { object: 'list', data: [] });
    return json(res, 200, chatCompletion({ usage: chatUsage({ prompt: 100, completion: 10 }) }));
  };
}

async function setup(t, identity, { env = ENV } = {}) {
  const up = await startUpstream({ handler: handler() });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }, {
      openai: { api_key_env: 'SG_IT_OPENAI_KEY' },
      anthropic: { api_key_env: 'SG_IT_ANTHROPIC_KEY' },
      gemini: { api_key_env: 'SG_IT_GEMINI_KEY' },
    }),
    extra: { identity },
    env,
  });
  return { up, proxy, ledger: ledgerPathOf(proxy) };
}

const VIRTUAL_KEYS = [
  { id: 'team-a-key', key_sha256: sha256hex(VK), team: 'a', user: 'alice' },
  { id: 'full-key', key_sha256: sha256hex(VK2).toUpperCase(), team: 'search', user: 'carol', customer: 'globex', agent: 'crawler' },
];

/** Everything the upstream ever received, as one string (request lines, all headers, bodies). */
function everythingUpstreamSaw(up) {
  return up.requests.map((r) => `${r.method} ${r.url}\n${r.rawHeaders.join('\n')}\n${r.body.toString('latin1')}`).join('\n----\n');
}

function assertNoSecret(secret, haystacks) {
  for (const [name, text] of Object.entries(haystacks)) {
    assert.ok(!text.includes(secret), `the key ${secret.slice(0, 10)}… appears in ${name}`);
  }
}

const CHAT = { model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
const MSG = { model: 'claude-3-5-haiku-20241022', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
const GEM = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };

test('virtual key in every supported place: provider key injected in its own header, virtual key never reaches the upstream', async (t) => {
  const { up, proxy, ledger } = await setup(t, { virtual_keys: VIRTUAL_KEYS, passthrough: true, trust_headers: true });
  const cases = [
    { what: 'openai Authorization: Bearer', path: '/v1/chat/completions', body: CHAT, headers: { authorization: `Bearer ${VK}` }, expect: { authorization: `Bearer ${REAL.openai}` }, absent: ['x-api-key', 'api-key', 'x-goog-api-key'] },
    // RFC 9110 allows any run of blanks after the scheme: still the virtual key, still replaced
    { what: 'openai Authorization: Bearer + two spaces', path: '/v1/chat/completions', body: CHAT, headers: { authorization: `Bearer  ${VK}` }, expect: { authorization: `Bearer ${REAL.openai}` }, absent: ['x-api-key', 'api-key', 'x-goog-api-key'] },
    { what: 'openai Authorization: bearer + tab', path: '/v1/chat/completions', body: CHAT, headers: { authorization: `bearer\t${VK}` }, expect: { authorization: `Bearer ${REAL.openai}` }, absent: ['x-api-key', 'api-key', 'x-goog-api-key'] },
    { what: 'openai api-key', path: '/v1/chat/completions', body: CHAT, headers: { 'api-key': VK }, expect: { authorization: `Bearer ${REAL.openai}` }, absent: ['api-key', 'x-api-key', 'x-goog-api-key'] },
    { what: 'anthropic x-api-key', path: '/v1/messages', body: MSG, headers: { 'x-api-key': VK, 'anthropic-version': '2023-06-01' }, expect: { 'x-api-key': REAL.anthropic, 'anthropic-version': '2023-06-01' }, absent: ['authorization', 'api-key', 'x-goog-api-key'] },
    { what: 'anthropic Authorization: Bearer', path: '/v1/messages', body: MSG, headers: { authorization: `Bearer ${VK}`, 'anthropic-version': '2023-06-01' }, expect: { 'x-api-key': REAL.anthropic }, absent: ['authorization', 'api-key', 'x-goog-api-key'] },
    { what: 'gemini x-goog-api-key', path: '/v1beta/models/gemini-2.0-flash:generateContent', body: GEM, headers: { 'x-goog-api-key': VK }, expect: { 'x-goog-api-key': REAL.gemini }, absent: ['authorization', 'x-api-key', 'api-key'], url: '/v1beta/models/gemini-2.0-flash:generateContent' },
    { what: 'gemini ?key= (only parameter)', path: `/v1beta/models/gemini-2.0-flash:generateContent?key=${VK}`, body: GEM, headers: {}, expect: { 'x-goog-api-key': REAL.gemini }, absent: ['authorization', 'x-api-key', 'api-key'], url: '/v1beta/models/gemini-2.0-flash:generateContent' },
    { what: 'gemini ?key= first of two', path: `/v1beta/models/gemini-2.0-flash:generateContent?key=${VK}&foo=bar`, body: GEM, headers: {}, expect: { 'x-goog-api-key': REAL.gemini }, absent: [], url: '/v1beta/models/gemini-2.0-flash:generateContent?foo=bar' },
    { what: 'gemini ?key= last of two', path: `/v1beta/models/gemini-2.0-flash:generateContent?foo=bar&key=${VK}`, body: GEM, headers: {}, expect: { 'x-goog-api-key': REAL.gemini }, absent: [], url: '/v1beta/models/gemini-2.0-flash:generateContent?foo=bar' },
    // the same virtual key sent in several places at once: every copy is stripped
    { what: 'openai Bearer + x-api-key + api-key + ?key= copies', path: `/v1/chat/completions?key=${VK}`, body: CHAT, headers: { authorization: `Bearer ${VK}`, 'x-api-key': VK, 'api-key': VK, 'x-goog-api-key': VK }, expect: { authorization: `Bearer ${REAL.openai}` }, absent: ['x-api-key', 'api-key', 'x-goog-api-key'], url: '/v1/chat/completions' },
  ];
  for (const c of cases) {
    const n = up.requests.length;
    const res = await postJson(`${proxy.url}${c.path}`, c.body, c.headers);
    assert.equal(res.status, 200, `${c.what}: ${res.text}`);
    assert.equal(up.requests.length, n + 1, c.what);
    const got = up.requests[n];
    for (const [h, v] of Object.entries(c.expect)) assert.equal(got.headers[h], v, `${c.what}: upstream ${h}`);
    for (const h of c.absent) assert.equal(got.headers[h], undefined, `${c.what}: upstream must not get ${h}`);
    if (c.url) assert.equal(got.url, c.url, `${c.what}: upstream URL`);
    assertNoSecret(VK, { [`upstream request (${c.what})`]: `${got.url}\n${got.rawHeaders.join('\n')}\n${got.body}` });
    const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
    assertLedgerShape(e, c.what);
    assertFields(e, { key: 'team-a-key', user: 'alice', team: 'a', customer: '', agent: '' }, c.what);
  }

  // The official SDKs with a virtual key as their API key
  const oc = new OpenAI({ apiKey: VK, baseURL: `${proxy.url}/v1`, maxRetries: 0 });
  const { response: r1 } = await oc.chat.completions.create(CHAT).withResponse();
  assert.equal(up.requests.at(-1).headers.authorization, `Bearer ${REAL.openai}`);
  assertFields(await waitForEntry(ledger, r1.headers.get('x-spendgate-request-id')), { key: 'team-a-key', team: 'a' }, 'openai SDK');
  const ac = new Anthropic({ apiKey: VK, baseURL: proxy.url, maxRetries: 0 });
  const { response: r2 } = await ac.messages.create(MSG).withResponse();
  assert.equal(up.requests.at(-1).headers['x-api-key'], REAL.anthropic);
  assertFields(await waitForEntry(ledger, r2.headers.get('x-spendgate-request-id')), { key: 'team-a-key', team: 'a' }, 'anthropic SDK');

  // a key listed with an upper-case hash and all four attributes
  const full = await postJson(`${proxy.url}/v1/chat/completions`, CHAT, { authorization: `Bearer ${VK2}` });
  assert.equal(full.status, 200);
  assert.equal(up.requests.at(-1).headers.authorization, `Bearer ${REAL.openai}`);
  assertFields(await waitForEntry(ledger, full.headers['x-spendgate-request-id']),
    { key: 'full-key', user: 'carol', team: 'search', customer: 'globex', agent: 'crawler' }, 'full-key');

  await proxy.stopClean();
  const hay = { 'upstream traffic': everythingUpstreamSaw(up), ledger: ledgerText(ledger), 'proxy stderr': proxy.stderr, 'proxy stdout': proxy.stdout };
  assertNoSecret(VK, hay);
  assertNoSecret(VK2, hay);
  // the real provider keys are not logged either
  for (const k of Object.values(REAL)) assertNoSecret(k, { ledger: ledgerText(ledger), 'proxy stderr': proxy.stderr, 'proxy stdout': proxy.stdout });
});

test('passthrough key: forwarded as-is, ledger key is fp_ + 12 hex of sha256, the key itself is never written', async (t) => {
  const { up, proxy, ledger } = await setup(t, { virtual_keys: VIRTUAL_KEYS, passthrough: true, trust_headers: true });
  const keys = {
    openai: `sk-proj-${randomBytes(20).toString('hex')}`,
    anthropic: `sk-ant-api03-${randomBytes(20).toString('hex')}`,
    gemini: `AIza${randomBytes(16).toString('hex')}`,
  };
  const sent = [
    { what: 'openai', path: '/v1/chat/completions', body: CHAT, headers: { authorization: `Bearer ${keys.openai}` }, check: (r) => assert.equal(r.headers.authorization, `Bearer ${keys.openai}`), key: keys.openai },
    { what: 'anthropic', path: '/v1/messages', body: MSG, headers: { 'x-api-key': keys.anthropic, 'anthropic-version': '2023-06-01' }, check: (r) => assert.equal(r.headers['x-api-key'], keys.anthropic), key: keys.anthropic },
    { what: 'gemini ?key=', path: `/v1beta/models/gemini-2.0-flash:generateContent?key=${keys.gemini}`, body: GEM, headers: {}, check: (r) => { assert.equal(r.url, `/v1beta/models/gemini-2.0-flash:generateContent?key=${keys.gemini}`); assert.equal(r.headers['x-goog-api-key'], undefined, 'no key injected for passthrough'); }, key: keys.gemini },
  ];
  for (const c of sent) {
    const res = await postJson(`${proxy.url}${c.path}`, c.body, c.headers);
    assert.equal(res.status, 200, `${c.what}: ${res.text}`);
    c.check(up.requests.at(-1));
    const e = await waitForEntry(ledger, res.headers['x-spendgate-request-id']);
    assertLedgerShape(e, c.what);
    assert.match(e.json.key, /^fp_[0-9a-f]{12}$/, c.what);
    assertFields(e, { key: keyFingerprint(c.key), user: '', team: '' }, c.what);
  }
  // the real provider keys of the config are never injected for passthrough callers
  assert.ok(!everythingUpstreamSaw(up).includes(REAL.openai) && !everythingUpstreamSaw(up).includes(REAL.anthropic) && !everythingUpstreamSaw(up).includes(REAL.gemini),
    'a passthrough caller must not get the configured provider key');
  // no key at all → still forwarded (passthrough), recorded without a fingerprint of anything secret
  const anon = await postJson(`${proxy.url}/v1/chat/completions`, CHAT, {});
  assert.equal(anon.status, 200);
  assert.equal(up.requests.at(-1).headers.authorization, undefined);
  const ea = await waitForEntry(ledger, anon.headers['x-spendgate-request-id']);
  assert.ok(typeof ea.json.key === 'string', ea.raw);
  await proxy.stopClean();
  for (const k of Object.values(keys)) {
    assertNoSecret(k, { ledger: ledgerText(ledger), 'proxy stderr': proxy.stderr, 'proxy stdout': proxy.stdout });
  }
});

test('a key sent as a percent-encoded key= parameter (?%6Bey=, k%65y=) is read as the key and masked in the access log', async (t) => {
  const { up, proxy, ledger } = await setup(t, { virtual_keys: VIRTUAL_KEYS, passthrough: true, trust_headers: true });
  const passthrough = `AIza${randomBytes(16).toString('hex')}`;
  const path = '/v1beta/models/gemini-2.0-flash:generateContent';
  // a virtual key: replaced by the provider key, every copy stripped
  const v = await postJson(`${proxy.url}${path}?%6Bey=${VK}&alt=json`, GEM, {});
  assert.equal(v.status, 200, v.text);
  assert.equal(up.requests.at(-1).headers['x-goog-api-key'], REAL.gemini);
  assert.equal(up.requests.at(-1).url, `${path}?alt=json`);
  assertFields(await waitForEntry(ledger, v.headers['x-spendgate-request-id']), { key: 'team-a-key' }, 'virtual key in ?%6Bey=');
  // a passthrough key: forwarded as sent, identified by its fingerprint
  const p = await postJson(`${proxy.url}${path}?k%65y=${passthrough}`, GEM, {});
  assert.equal(p.status, 200, p.text);
  assert.equal(up.requests.at(-1).url, `${path}?k%65y=${passthrough}`);
  assertFields(await waitForEntry(ledger, p.headers['x-spendgate-request-id']), { key: keyFingerprint(passthrough) }, 'passthrough key in ?k%65y=');
  await proxy.stopClean();
  // the access log names the requests, with the values masked
  assert.match(proxy.stderr, /generateContent\?%6Bey=REDACTED&alt=json/, proxy.stderr.slice(-2000));
  assert.match(proxy.stderr, /generateContent\?k%65y=REDACTED/, proxy.stderr.slice(-2000));
  const hay = { ledger: ledgerText(ledger), 'proxy stderr': proxy.stderr, 'proxy stdout': proxy.stdout };
  assertNoSecret(VK, hay);
  assertNoSecret(passthrough, hay);
});

test('trust_headers: true: X-Spendgate-* fill attribution (a virtual key\'s own values win) and are not forwarded', async (t) => {
  const { up, proxy, ledger } = await setup(t, { virtual_keys: VIRTUAL_KEYS, passthrough: true, trust_headers: true });
  const claim = { 'x-spendgate-user': 'bob', 'x-spendgate-team': 'b', 'x-spendgate-customer': 'acme', 'x-spendgate-agent': 'summarizer' };
  const v = await postJson(`${proxy.url}/v1/chat/completions`, CHAT, { authorization: `Bearer ${VK}`, ...claim });
  assert.equal(v.status, 200);
  assertFields(await waitForEntry(ledger, v.headers['x-spendgate-request-id']),
    { key: 'team-a-key', user: 'alice', team: 'a', customer: 'acme', agent: 'summarizer' }, 'virtual key + headers');
  const p = await postJson(`${proxy.url}/v1/messages`, MSG, { 'x-api-key': 'sk-ant-pass-1', 'anthropic-version': '2023-06-01', ...claim });
  assert.equal(p.status, 200);
  const ep = await waitForEntry(ledger, p.headers['x-spendgate-request-id']);
  assertFields(ep, { key: keyFingerprint('sk-ant-pass-1'), user: 'bob', team: 'b', customer: 'acme', agent: 'summarizer' }, 'passthrough + headers');
  // 100 × 0.80 + 10 × 4.00 = 80 + 40 = 120 USD per 1M → 0.00012 USD (claude-3-5-haiku-20241022)
  assertCost(ep, '0.00012', [[100, '0.80'], [10, '4.00']]);
  // mixed-case header names count too
  const m = await postJson(`${proxy.url}/v1/chat/completions`, CHAT, { authorization: 'Bearer sk-pass-2', 'X-Spendgate-Customer': 'initech' });
  assertFields(await waitForEntry(ledger, m.headers['x-spendgate-request-id']), { customer: 'initech', user: '', team: '', agent: '' }, 'mixed case');
  for (const r of up.requests) {
    for (const h of Object.keys(r.headers)) assert.ok(!h.startsWith('x-spendgate-'), `upstream got ${h}`);
  }
  await proxy.stopClean();
});

test('one keep-alive connection: each request is attributed by its own key and headers, and a key revoked by a reload is refused on it', async (t) => {
  // The session keeps its last identity and what it came from (key, headers, the resolver of the
  // config): whatever changes between two requests of a connection must show in the second.
  const { up, proxy, ledger } = await setup(t, { virtual_keys: VIRTUAL_KEYS, passthrough: false, trust_headers: true });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  let connections = 0;
  const connect = agent.createConnection.bind(agent);
  agent.createConnection = (...args) => {
    connections += 1;
    return connect(...args);
  };
  const send = (headers) => postJson(`${proxy.url}/v1/chat/completions`, CHAT, headers, { agent });
  const alice = { key: 'team-a-key', user: 'alice', team: 'a', customer: '', agent: '' };
  const carol = { key: 'full-key', user: 'carol', team: 'search', customer: 'globex', agent: 'crawler' };
  const steps = [
    [{ authorization: `Bearer ${VK}` }, alice],
    [{ authorization: `Bearer ${VK}` }, alice],
    [{ authorization: `Bearer ${VK}`, 'x-spendgate-customer': 'acme' }, { ...alice, customer: 'acme' }],
    [{ authorization: `Bearer ${VK}`, 'x-spendgate-agent': 'bot' }, { ...alice, agent: 'bot' }],
    [{ authorization: `Bearer ${VK}`, 'x-spendgate-agent': 'bot', 'x-spendgate-user': 'mallory' }, { ...alice, agent: 'bot' }],
    [{ authorization: `Bearer ${VK2}`, 'x-spendgate-agent': 'bot' }, carol],
    [{ authorization: `Bearer ${VK}` }, alice],
  ];
  for (const [headers, want] of steps) {
    const r = await send(headers);
    assert.equal(r.status, 200, r.text);
    assert.equal(connections, 1, 'every request on the same connection');
    assertFields(await waitForEntry(ledger, r.headers['x-spendgate-request-id']), want, JSON.stringify(headers));
  }
  // A reload that no longer lists VK: refused on the same connection; VK2 still passes there.
  writeFileSync(proxy.configPath, proxy.configText.replace(sha256hex(VK), sha256hex('sg-vk-another-key')));
  const reloaded = await admin(proxy.adminUrl, 'POST', '/admin/reload');
  assert.equal(reloaded.status, 200, reloaded.text);
  const refused = await send({ authorization: `Bearer ${VK}` });
  assert.equal(refused.status, 401, refused.text);
  assert.equal(connections, 1, 'still the same connection');
  const passed = await send({ authorization: `Bearer ${VK2}` });
  assert.equal(passed.status, 200, passed.text);
  assertFields(await waitForEntry(ledger, passed.headers['x-spendgate-request-id']), carol, 'after the reload');
  assert.equal(up.requests.length, steps.length + 1, 'the refused request never reached the upstream');
  await proxy.stopClean();
});

test('trust_headers: false: X-Spendgate-* are ignored and still not forwarded', async (t) => {
  const { up, proxy, ledger } = await setup(t, { virtual_keys: VIRTUAL_KEYS, passthrough: true, trust_headers: false });
  const claim = { 'x-spendgate-user': 'mallory', 'x-spendgate-team': 'evil', 'x-spendgate-customer': 'acme', 'x-spendgate-agent': 'bot' };
  const v = await postJson(`${proxy.url}/v1/chat/completions`, CHAT, { authorization: `Bearer ${VK}`, ...claim });
  assertFields(await waitForEntry(ledger, v.headers['x-spendgate-request-id']),
    { key: 'team-a-key', user: 'alice', team: 'a', customer: '', agent: '' }, 'virtual key');
  const p = await postJson(`${proxy.url}/v1/chat/completions`, CHAT, { authorization: 'Bearer sk-pass-3', ...claim });
  assertFields(await waitForEntry(ledger, p.headers['x-spendgate-request-id']),
    { key: keyFingerprint('sk-pass-3'), user: '', team: '', customer: '', agent: '' }, 'passthrough');
  for (const r of up.requests) {
    for (const h of Object.keys(r.headers)) assert.ok(!h.startsWith('x-spendgate-'), `upstream got ${h}`);
  }
  assert.ok(!ledgerText(ledger).includes('mallory'));
  await proxy.stopClean();
});

test('passthrough: false: unknown or missing key → 401 unknown_key / invalid_api_key, never forwarded, no ledger line', async (t) => {
  const { up, proxy, ledger } = await setup(t, { virtual_keys: VIRTUAL_KEYS, passthrough: false, trust_headers: true });
  const unknown = `sk-unknown-${randomBytes(12).toString('hex')}`;
  const denied = [];
  const oa = await postJson(`${proxy.url}/v1/chat/completions`, CHAT, { authorization: `Bearer ${unknown}` });
  assert.equal(oa.status, 401, oa.text);
  assert.ok(oa.headers['x-spendgate-request-id']);
  assert.deepEqual({ type: oa.json().error.type, code: oa.json().error.code, param: oa.json().error.param },
    { type: 'invalid_request_error', code: 'invalid_api_key', param: null });
  denied.push(['openai', oa]);
  const an = await postJson(`${proxy.url}/v1/messages`, MSG, { 'x-api-key': unknown, 'anthropic-version': '2023-06-01' });
  assert.equal(an.status, 401, an.text);
  assert.equal(an.json().type, 'error');
  assert.equal(typeof an.json().error.type, 'string');
  denied.push(['anthropic', an]);
  const gm = await postJson(`${proxy.url}/v1beta/models/gemini-2.0-flash:generateContent?key=${unknown}`, GEM, {});
  assert.equal(gm.status, 401, gm.text);
  assert.equal(gm.json().error.code, 401);
  denied.push(['gemini ?key=', gm]);
  const none = await postJson(`${proxy.url}/v1/chat/completions`, CHAT, {});
  assert.equal(none.status, 401, `no key at all: ${none.text}`);
  assert.match(none.json().error.message, /no API key was sent.*Authorization: Bearer/, 'no key: says so, and where it goes');
  denied.push(['no key', none]);
  const noneAn = await postJson(`${proxy.url}/v1/messages`, MSG, { 'anthropic-version': '2023-06-01' });
  assert.equal(noneAn.status, 401, `no key at all (anthropic): ${noneAn.text}`);
  assert.match(noneAn.json().error.message, /no API key was sent.*x-api-key/, 'no key (anthropic): says so, and where it goes');
  denied.push(['no key (anthropic)', noneAn]);
  assert.match(oa.json().error.message, /not a spendgate virtual key/, 'an unknown key is told so');
  // SDK view of the denial
  await assert.rejects(new OpenAI({ apiKey: unknown, baseURL: `${proxy.url}/v1`, maxRetries: 0 }).chat.completions.create(CHAT), (err) => {
    assert.equal(err.status, 401);
    assert.equal(err.code, 'invalid_api_key');
    return true;
  });
  assert.equal(up.requests.length, 0, 'a denied request must never reach the upstream');

  // the virtual key still works
  const ok = await postJson(`${proxy.url}/v1/chat/completions`, CHAT, { authorization: `Bearer ${VK}` });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(up.requests.length, 1);
  assert.equal(up.requests[0].headers.authorization, `Bearer ${REAL.openai}`);
  await waitForEntry(ledger, ok.headers['x-spendgate-request-id']);
  await proxy.stopClean();
  assert.equal(readLedger(ledger).length, 1, 'denied requests write no ledger line');
  assertNoSecret(unknown, { ledger: ledgerText(ledger), 'proxy stderr': proxy.stderr, 'proxy stdout': proxy.stdout });
  // SPEC §4: x-spendgate-denied: unknown_key on every denial
  for (const [what, r] of denied) {
    assert.equal(r.headers['x-spendgate-denied'], 'unknown_key', `${what}: x-spendgate-denied missing: ${JSON.stringify(r.headers)}`);
  }
});

test('passthrough: true: a key in spendgate\'s own shape that no config lists (revoked, mistyped) → 401 unknown_key in the caller\'s format, never forwarded', async (t) => {
  const { up, proxy, ledger } = await setup(t, { virtual_keys: VIRTUAL_KEYS, passthrough: true });
  const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const revoked = `sk-sg-${[...randomBytes(32)].map((b) => alnum[b % 62]).join('')}`;
  const oa = await postJson(`${proxy.url}/v1/chat/completions`, CHAT, { authorization: `Bearer ${revoked}` });
  assert.equal(oa.status, 401, oa.text);
  assert.equal(oa.headers['x-spendgate-denied'], 'unknown_key');
  assert.deepEqual({ type: oa.json().error.type, code: oa.json().error.code }, { type: 'invalid_request_error', code: 'invalid_api_key' });
  const an = await postJson(`${proxy.url}/v1/messages`, MSG, { 'x-api-key': revoked, 'anthropic-version': '2023-06-01' });
  assert.equal(an.status, 401, an.text);
  assert.equal(an.json().type, 'error', an.text);
  assert.equal(an.headers['x-spendgate-denied'], 'unknown_key');
  const gm = await postJson(`${proxy.url}/v1beta/models/gemini-2.0-flash:generateContent`, GEM, { 'x-goog-api-key': revoked });
  assert.equal(gm.status, 401, gm.text);
  assert.equal(gm.json().error.status, 'UNAUTHENTICATED', gm.text);
  assert.equal(up.requests.length, 0, 'a key in our own shape must never reach the upstream');

  // Other passthrough keys are still forwarded as-is.
  const other = `sk-proj-${randomBytes(16).toString('hex')}`;
  const ok = await postJson(`${proxy.url}/v1/chat/completions`, CHAT, { authorization: `Bearer ${other}` });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(up.requests[0].headers.authorization, `Bearer ${other}`);
  await waitForEntry(ledger, ok.headers['x-spendgate-request-id']);
  await proxy.stopClean();
  assertNoSecret(revoked, { ledger: ledgerText(ledger), 'proxy stderr': proxy.stderr, 'proxy stdout': proxy.stdout });
});

test('a virtual key beside a different credential in another auth place → 401 unknown_key in the caller\'s format; nothing reaches the upstream', async (t) => {
  const { up, proxy, ledger } = await setup(t, { virtual_keys: VIRTUAL_KEYS, passthrough: true });
  const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const shaped = `sk-sg-${[...randomBytes(32)].map((b) => alnum[b % 62]).join('')}`; // our shape, in no config
  const GEM_PATH = '/v1beta/models/gemini-2.0-flash:generateContent';
  const cases = [
    // the auditor's three: the virtual key sits in a later place than another key
    { what: 'openai Bearer sk-other + x-api-key VK', format: 'openai', path: '/v1/chat/completions', body: CHAT, headers: { authorization: 'Bearer sk-other', 'x-api-key': VK } },
    { what: 'anthropic x-api-key sk-ant-other + api-key VK', format: 'anthropic', path: '/v1/messages', body: MSG, headers: { 'x-api-key': 'sk-ant-other', 'api-key': VK, 'anthropic-version': '2023-06-01' } },
    { what: 'gemini ?key=VK + x-goog-api-key AIzaOther', format: 'gemini', path: `${GEM_PATH}?key=${VK}`, body: GEM, headers: { 'x-goog-api-key': 'AIzaOther' } },
    // the virtual key first, another key later: which one counts would be a guess
    { what: 'openai Bearer VK + x-api-key sk-other', format: 'openai', path: '/v1/chat/completions', body: CHAT, headers: { authorization: `Bearer ${VK}`, 'x-api-key': 'sk-other' } },
    // a key in our shape that no config lists, behind another key
    { what: 'openai Bearer sk-other + api-key sk-sg-…', format: 'openai', path: '/v1/chat/completions', body: CHAT, headers: { authorization: 'Bearer sk-other', 'api-key': shaped } },
    // a second field of the same name; a later key= parameter, percent-encoded; another scheme
    { what: 'anthropic two x-api-key fields', format: 'anthropic', path: '/v1/messages', body: MSG, headers: { 'x-api-key': ['sk-ant-other', VK], 'anthropic-version': '2023-06-01' } },
    { what: 'gemini ?key=AIzaOther&%6Bey=VK', format: 'gemini', path: `${GEM_PATH}?key=AIzaOther&%6Bey=${encodeURIComponent(VK).replace(/-/g, '%2D')}`, body: GEM, headers: {} },
    { what: 'openai Authorization: Token VK + x-api-key sk-other', format: 'openai', path: '/v1/chat/completions', body: CHAT, headers: { authorization: `Token ${VK}`, 'x-api-key': 'sk-other' } },
  ];
  for (const c of cases) {
    const res = await postJson(`${proxy.url}${c.path}`, c.body, c.headers);
    assert.equal(res.status, 401, `${c.what}: ${res.text}`);
    assert.equal(res.headers['x-spendgate-denied'], 'unknown_key', c.what);
    assert.match(res.text, /virtual key and a different credential/, c.what);
    const body = res.json();
    if (c.format === 'openai') assert.deepEqual({ type: body.error.type, code: body.error.code }, { type: 'invalid_request_error', code: 'invalid_api_key' }, c.what);
    if (c.format === 'anthropic') assert.deepEqual({ type: body.type, error: body.error.type }, { type: 'error', error: 'authentication_error' }, c.what);
    if (c.format === 'gemini') assert.equal(body.error.status, 'UNAUTHENTICATED', c.what);
    assert.equal(up.requests.length, 0, `${c.what}: nothing may reach the upstream`);
  }

  // The same virtual key in two places is one credential: forwarded with only the provider key.
  const same = await postJson(`${proxy.url}/v1/messages`, MSG, { 'x-api-key': VK, 'api-key': VK, 'anthropic-version': '2023-06-01' });
  assert.equal(same.status, 200, same.text);
  assert.equal(up.requests.at(-1).headers['x-api-key'], REAL.anthropic);
  assert.equal(up.requests.at(-1).headers['api-key'], undefined);
  assertFields(await waitForEntry(ledger, same.headers['x-spendgate-request-id']), { key: 'team-a-key' }, 'same key twice');
  // Two different keys neither of which is virtual: passthrough as before, both forwarded.
  const two = await postJson(`${proxy.url}/v1/chat/completions`, CHAT, { authorization: 'Bearer sk-one', 'x-api-key': 'sk-two' });
  assert.equal(two.status, 200, two.text);
  assert.equal(up.requests.at(-1).headers.authorization, 'Bearer sk-one');
  assert.equal(up.requests.at(-1).headers['x-api-key'], 'sk-two');
  assertFields(await waitForEntry(ledger, two.headers['x-spendgate-request-id']), { key: keyFingerprint('sk-one') }, 'two passthrough keys');

  await proxy.stopClean();
  assertNoSecret(VK, { 'upstream traffic': everythingUpstreamSaw(up), ledger: ledgerText(ledger) });
  assertNoSecret(shaped, { 'upstream traffic': everythingUpstreamSaw(up), ledger: ledgerText(ledger) });
});

// Audit 13: a virtual key in a place identity does not read (another query parameter or header,
// Basic credentials) left the proxy as it was, the call counted as an anonymous passthrough one.
test('a virtual key in our own shape outside the key places → 401 unknown_key in the caller\'s format; nothing reaches the upstream', async (t) => {
  const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const SVK = `sk-sg-${[...randomBytes(32)].map((b) => alnum[b % 62]).join('')}`;
  const keys = [...VIRTUAL_KEYS, { id: 'shaped-key', key_sha256: sha256hex(SVK), team: 'c' }];
  const { up, proxy, ledger } = await setup(t, { virtual_keys: keys, passthrough: true });
  const GEM_PATH = '/v1beta/models/gemini-2.0-flash:generateContent';
  const basic = (text) => `Basic ${Buffer.from(text).toString('base64')}`;
  const cases = [
    { what: 'gemini ?api_key=', format: 'gemini', path: `${GEM_PATH}?api_key=${SVK}`, body: GEM, headers: {} },
    { what: 'gemini ?KEY=', format: 'gemini', path: `${GEM_PATH}?KEY=${SVK}`, body: GEM, headers: {} },
    { what: 'openai ?api-key= percent-encoded', format: 'openai', path: `/v1/chat/completions?api-key=${SVK.replace(/-/g, '%2D')}`, body: CHAT, headers: {} },
    { what: 'openai Authorization: Basic vk:', format: 'openai', path: '/v1/chat/completions', body: CHAT, headers: { authorization: basic(`${SVK}:`) } },
    { what: 'openai Authorization: Basic :vk', format: 'openai', path: '/v1/chat/completions', body: CHAT, headers: { authorization: basic(`:${SVK}`) } },
    { what: 'anthropic other header', format: 'anthropic', path: '/v1/messages', body: MSG, headers: { 'x-api-key': 'sk-ant-other', 'openai-api-key': SVK, 'anthropic-version': '2023-06-01' } },
    { what: 'openai virtual key in place, a copy in another header', format: 'openai', path: '/v1/chat/completions', body: CHAT, headers: { authorization: `Bearer ${SVK}`, 'x-copy': SVK } },
  ];
  for (const c of cases) {
    const res = await postJson(`${proxy.url}${c.path}`, c.body, c.headers);
    assert.equal(res.status, 401, `${c.what}: ${res.text}`);
    assert.equal(res.headers['x-spendgate-denied'], 'unknown_key', c.what);
    assert.match(res.text, /outside the places keys are read from/, c.what);
    const body = res.json();
    if (c.format === 'openai') assert.equal(body.error.code, 'invalid_api_key', c.what);
    if (c.format === 'anthropic') assert.equal(body.error.type, 'authentication_error', c.what);
    if (c.format === 'gemini') assert.equal(body.error.status, 'UNAUTHENTICATED', c.what);
    assert.equal(up.requests.length, 0, `${c.what}: nothing may reach the upstream`);
  }
  // In its own place it works, and the provider key replaces it.
  const ok = await postJson(`${proxy.url}/v1/chat/completions`, CHAT, { authorization: `Bearer ${SVK}` });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(up.requests.at(-1).headers.authorization, `Bearer ${REAL.openai}`);
  assertFields(await waitForEntry(ledger, ok.headers['x-spendgate-request-id']), { key: 'shaped-key' }, 'in place');
  await proxy.stopClean();
  assertNoSecret(SVK, { 'upstream traffic': everythingUpstreamSaw(up), ledger: ledgerText(ledger) });
});

test('spendgate key new --id ID prints a key and a matching key_sha256 line that works in the config', async (t) => {
  const r = runCli(['key', 'new', '--id', 'ci-bot']);
  assert.equal(r.code, 0, `spendgate key new failed (code ${r.code}):\n${r.stdout}${r.stderr}`);
  const out = r.stdout;
  const hashMatch = /key_sha256\s*:\s*"?([0-9a-fA-F]{64})"?/.exec(out);
  assert.ok(hashMatch, `no key_sha256 line in:\n${out}`);
  const hash = hashMatch[1].toLowerCase();
  const tokens = out.split(/[\s"'`,{}]+/).filter(Boolean);
  const key = tokens.find((tok) => sha256hex(tok) === hash);
  assert.ok(key, `none of the printed words hashes to ${hash}:\n${out}`);
  assert.ok(key.length >= 32, `a virtual key should be long enough to be unguessable: ${key}`);
  assert.ok(out.includes('ci-bot'), `the id is not in the config line:\n${out}`);
  const again = runCli(['key', 'new', '--id', 'ci-bot']);
  assert.ok(!again.stdout.includes(key), 'two runs must print different keys');

  const { up, proxy, ledger } = await setup(t, { virtual_keys: [{ id: 'ci-bot', key_sha256: hash, team: 'ci' }], passthrough: false });
  const res = await postJson(`${proxy.url}/v1/chat/completions`, CHAT, { authorization: `Bearer ${key}` });
  assert.equal(res.status, 200, res.text);
  assert.equal(up.requests[0].headers.authorization, `Bearer ${REAL.openai}`);
  assertFields(await waitForEntry(ledger, res.headers['x-spendgate-request-id']), { key: 'ci-bot', team: 'ci' });
  await proxy.stopClean();
});

test('an X-Spendgate-Team header that is not UTF-8 is kept as UTF-8 (U+FFFD) in the ledger, /admin/budgets and /metrics', async (t) => {
  const up = await startUpstream({ handler: handler() });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url }),
    extra: {
      identity: { passthrough: true, trust_headers: true },
      budgets: [{ name: 'per-team', scope: 'team', period: 'day', limit_usd: 100, mode: 'soft' }],
    },
  });
  const ledger = ledgerPathOf(proxy);
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 16 });
  // HTTP allows any byte from 0x80 up in a field value (obs-text); 0xFF is never UTF-8.
  const head = Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Spendgate-Team: \xffteam\r\n\r\n`, 'latin1');
  const r = await rawExchange(proxy.port, Buffer.concat([head, Buffer.from(body)]));
  assert.equal(r.response.status, 200, r.raw.toString('latin1'));

  const strict = new TextDecoder('utf-8', { fatal: true });
  await waitForLedger(ledger, 1);
  const raw = readFileSync(ledger);
  const text = strict.decode(raw);  // throws on a byte sequence that is not UTF-8
  assert.equal(JSON.parse(text.trim()).team, '\ufffdteam');

  const budgets = await request(`${proxy.adminUrl}/admin/budgets`);
  assert.equal(budgets.status, 200, budgets.text);
  const subjects = JSON.parse(strict.decode(budgets.body)).map((b) => b.subject);
  assert.ok(subjects.includes('\ufffdteam'), JSON.stringify(subjects));

  const metrics = await request(`${proxy.adminUrl}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(strict.decode(metrics.body), /spendgate_budget_spent_usd\{budget="per-team",subject="\ufffdteam"\}/);
});
