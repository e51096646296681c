// A provider whose api_key_env variable is unset or empty: `serve` and a reload warn once per such
// provider (naming the variable, never a value), and a virtual-key call to it is answered by the
// proxy (500, caller's format, not a denial) instead of being forwarded without credentials.
// Passthrough keys are unaffected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startProxy, providers } from './lib/proxy.mjs';
import { startUpstream, json, sleep } from './lib/fake_upstream.mjs';
import { request } from './lib/http.mjs';
import { ledgerPathOf, readLedger, sha256hex } from './lib/ledger.mjs';
import { admin, pollUntil } from './lib/enforcement.mjs';

const VK = `sg-vk-${randomBytes(16).toString('hex')}`;
const GEMINI_REAL = `AIzaReal${randomBytes(6).toString('hex')}`;
const UNSET = `SG_IT_UNSET_${randomBytes(4).toString('hex').toUpperCase()}`;

const post = (proxy, path, headers, body) => request(`${proxy.url}${path}`, {
  method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
});

const warnings = (proxy) => (proxy.stdout + proxy.stderr).split('\n').filter((l) => l.includes('api_key_env'));

test('unset / empty api_key_env: one warning per provider at start and on reload; a virtual-key call gets 500 naming the variable, not forwarded; passthrough still forwarded', async (t) => {
  const up = await startUpstream({ handler: (req, res) => json(res, 200, { ok: true }) });
  t.after(() => up.close());
  const proxy = await startProxy(t, {
    providers: await providers({ openai: up.url, anthropic: up.url, gemini: up.url }, {
      openai: { api_key_env: UNSET },
      anthropic: { api_key_env: 'SG_IT_EMPTY_KEY' },
      gemini: { api_key_env: 'SG_IT_GEMINI_KEY' },
    }),
    extra: { identity: { virtual_keys: [{ id: 'vk', key_sha256: sha256hex(VK), team: 'a' }], passthrough: true } },
    env: { SG_IT_EMPTY_KEY: '', SG_IT_GEMINI_KEY: GEMINI_REAL },
  });

  await pollUntil(() => warnings(proxy).length >= 2, { what: 'start-up warnings' });
  let lines = warnings(proxy);
  assert.equal(lines.length, 2, `one warning per provider with a missing key:\n${lines.join('\n')}`);
  assert.ok(lines.some((l) => l.includes(`${UNSET} is not set`)), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('SG_IT_EMPTY_KEY is empty')), lines.join('\n'));
  assert.ok(!(proxy.stdout + proxy.stderr).includes(GEMINI_REAL), 'a key value is never logged');

  // Virtual key to openai (variable unset): answered here, OpenAI error shape.
  const o = await post(proxy, '/v1/chat/completions', { authorization: `Bearer ${VK}` },
    { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(o.status, 500, o.text);
  assert.equal(o.headers['x-spendgate-denied'], undefined, 'not a denial');
  assert.ok(o.headers['x-spendgate-request-id']);
  const ob = o.json();
  assert.equal(ob.error.type, 'api_error');
  assert.equal(ob.error.code, 'provider_key_missing');
  assert.equal(ob.error.message, `spendgate has no provider key for openai: the environment variable ${UNSET} is not set`);

  // Virtual key to anthropic (variable empty): Anthropic error shape.
  const a = await post(proxy, '/v1/messages', { 'x-api-key': VK, 'anthropic-version': '2023-06-01' },
    { model: 'claude-3-5-haiku-20241022', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(a.status, 500, a.text);
  assert.equal(a.headers['x-spendgate-denied'], undefined);
  const ab = a.json();
  assert.equal(ab.type, 'error');
  assert.equal(ab.error.type, 'api_error');
  assert.match(ab.error.message, /the environment variable SG_IT_EMPTY_KEY is empty/);
  assert.equal(up.requests.length, 0, 'nothing was forwarded without credentials');

  // A passthrough key to the same provider is forwarded untouched; gemini has its key.
  const p = await post(proxy, '/v1/chat/completions', { authorization: 'Bearer sk-passthrough' },
    { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(p.status, 200, p.text);
  assert.equal(up.requests.at(-1).headers.authorization, 'Bearer sk-passthrough');
  const g = await post(proxy, '/v1beta/models/gemini-2.0-flash:generateContent', { 'x-goog-api-key': VK },
    { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] });
  assert.equal(g.status, 200, g.text);
  assert.equal(up.requests.at(-1).headers['x-goog-api-key'], GEMINI_REAL);

  // Counted like other proxy-made errors that never reached an upstream: requests_total, no ledger line.
  const metrics = (await admin(proxy.adminUrl, 'GET', '/metrics')).text;
  assert.match(metrics, /spendgate_requests_total\{provider="openai",model="gpt-4o-mini",status="500"\} 1/);
  assert.doesNotMatch(metrics, /spendgate_denied_total\{reason="[a-z_]+"\} [1-9]/, 'no denial counted');
  await sleep(200);
  const ledger = readLedger(ledgerPathOf(proxy));
  assert.equal(ledger.filter((e) => e.json.status === 500).length, 0, 'nothing forwarded, nothing ledgered');

  // A successful reload warns again, once per provider.
  const r = await admin(proxy.adminUrl, 'POST', '/admin/reload');
  assert.equal(r.status, 200, r.text);
  await pollUntil(() => warnings(proxy).length >= 4, { what: 'reload warnings' });
  lines = warnings(proxy);
  assert.equal(lines.length, 4, lines.join('\n'));
  await proxy.stopClean();
});
