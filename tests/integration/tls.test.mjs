// HTTPS upstreams: verification on, extended only by ca_file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy, providers, anthropicProvider, openaiProvider, geminiProvider, closedPort } from './lib/proxy.mjs';
import { startUpstream, json, startSse, sseFrame, writeAsync } from './lib/fake_upstream.mjs';
import { request, postJson } from './lib/http.mjs';
import { makeCerts } from './lib/certs.mjs';
import { assertProxyError, SAMPLE } from './lib/errors.mjs';
import { ANTHROPIC_MESSAGE, anthropicEvents } from './lib/fixtures.mjs';

/**
 * A 502 for an upstream whose certificate spendgate refused: the provider's error format, and a
 * message about the certificate (so that a 502 for another reason, e.g. a name that does not
 * resolve, cannot pass for it).
 */
function assertTlsRefused(res, format, what) {
  assertProxyError(res, format, 502, what);
  assert.match(res.json().error.message, /certificate verify failed/i, `${what}: ${res.text}`);
}

let certs;
before(() => { certs = makeCerts(); });
after(() => certs?.cleanup());

async function httpsUpstream(t, leaf, handler) {
  const up = await startUpstream({ tls: { key: leaf.key, cert: leaf.cert }, handler });
  t.after(() => up.close());
  return up;
}

async function proxyWithAnthropic(t, anthropicBase, anthropicExtra = {}) {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  return startProxy(t, {
    providers: {
      openai: openaiProvider(dead),
      anthropic: anthropicProvider(anthropicBase, anthropicExtra),
      gemini: geminiProvider(dead),
    },
  });
}

const sendAnthropic = (proxy, body = SAMPLE.anthropic.body) =>
  postJson(`${proxy.url}/v1/messages`, body, SAMPLE.anthropic.headers);

test('HTTPS upstream signed by a CA given in ca_file works (host name localhost)', async (t) => {
  const up = await httpsUpstream(t, certs.server, (req, res) => json(res, 200, ANTHROPIC_MESSAGE, { 'request-id': 'req_tls' }));
  const proxy = await proxyWithAnthropic(t, `https://localhost:${up.port}`, { ca_file: certs.caFile });
  const res = await sendAnthropic(proxy);
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json(), ANTHROPIC_MESSAGE);
  assert.equal(res.headers['request-id'], 'req_tls');
  const seen = up.requests[0];
  assert.ok(seen);
  assert.equal(seen.headers.host, `localhost:${up.port}`, 'Host header must name the upstream');
  assert.equal(seen.servername, 'localhost', 'SNI must carry the upstream host name');
  assert.equal(seen.headers['x-api-key'], 'sk-ant-test');
  assert.equal(seen.headers['anthropic-version'], '2023-06-01');
  await proxy.stopClean();
});

test('HTTPS upstream: SSE stream relayed and upstream TLS connection reused', async (t) => {
  const frames = anthropicEvents().map(sseFrame);
  const up = await httpsUpstream(t, certs.server, async (req, res) => {
    startSse(res);
    for (const f of frames) await writeAsync(res, f);
    res.end();
  });
  const proxy = await proxyWithAnthropic(t, `https://localhost:${up.port}`, { ca_file: certs.caFile });
  for (let i = 0; i < 3; i++) {
    const res = await sendAnthropic(proxy, { ...SAMPLE.anthropic.body, stream: true });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, frames.join(''));
  }
  assert.equal(up.requests.length, 3);
  assert.equal(up.tcpConnections, 1, `expected the TLS upstream connection to be reused, got ${up.tcpConnections} connections`);
  await proxy.stopClean();
});

test('HTTPS upstream addressed by IP (cert has IP SAN 127.0.0.1) works with ca_file', async (t) => {
  const up = await httpsUpstream(t, certs.server, (req, res) => json(res, 200, ANTHROPIC_MESSAGE));
  const proxy = await proxyWithAnthropic(t, `https://127.0.0.1:${up.port}`, { ca_file: certs.caFile });
  const res = await sendAnthropic(proxy);
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json(), ANTHROPIC_MESSAGE);
  assert.equal(up.requests[0].headers.host, `127.0.0.1:${up.port}`);
  await proxy.stopClean();
});

test('same HTTPS upstream WITHOUT ca_file -> 502 (certificate not trusted), upstream never gets the request', async (t) => {
  const up = await httpsUpstream(t, certs.server, (req, res) => json(res, 200, ANTHROPIC_MESSAGE));
  const proxy = await proxyWithAnthropic(t, `https://localhost:${up.port}`);
  const res = await sendAnthropic(proxy);
  assertTlsRefused(res, 'anthropic', 'untrusted upstream cert');
  assert.equal(up.requests.length, 0, 'request must not be sent over an unverified connection');
  await proxy.stopClean();
});

test('OpenAI-format route to an untrusted HTTPS upstream -> 502 in OpenAI format', async (t) => {
  const up = await httpsUpstream(t, certs.server, (req, res) => json(res, 200, {}));
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const proxy = await startProxy(t, {
    providers: await providers({ openai: `https://localhost:${up.port}`, anthropic: dead, gemini: dead }),
  });
  const res = await postJson(`${proxy.url}${SAMPLE.openai.path}`, SAMPLE.openai.body, SAMPLE.openai.headers);
  assertTlsRefused(res, 'openai', 'untrusted upstream cert (openai)');
  assert.equal(up.requests.length, 0);
  await proxy.stopClean();
});

test('cert for the wrong host name (trusted CA) -> 502, upstream never gets the request', async (t) => {
  const up = await httpsUpstream(t, certs.wrongHost, (req, res) => json(res, 200, ANTHROPIC_MESSAGE));
  const proxy = await proxyWithAnthropic(t, `https://localhost:${up.port}`, { ca_file: certs.caFile });
  const res = await sendAnthropic(proxy);
  assertTlsRefused(res, 'anthropic', 'wrong host name');
  assert.equal(up.requests.length, 0, 'request must not be sent to a host whose cert does not match');
  // The same cert, addressed by IP, must fail too (no IP SAN for 127.0.0.1).
  const proxy2 = await proxyWithAnthropic(t, `https://127.0.0.1:${up.port}`, { ca_file: certs.caFile });
  const res2 = await sendAnthropic(proxy2);
  assertTlsRefused(res2, 'anthropic', 'wrong host (IP)');
  assert.equal(up.requests.length, 0);
  await proxy.stopClean();
  await proxy2.stopClean();
});

test('gemini-format route, wrong host name -> 502 in Gemini format', async (t) => {
  const up = await httpsUpstream(t, certs.wrongHost, (req, res) => json(res, 200, {}));
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const proxy = await startProxy(t, {
    providers: {
      openai: openaiProvider(dead),
      anthropic: anthropicProvider(dead),
      gemini: geminiProvider(`https://localhost:${up.port}`, { ca_file: certs.caFile }),
    },
  });
  const res = await postJson(`${proxy.url}${SAMPLE.gemini.path}`, SAMPLE.gemini.body, SAMPLE.gemini.headers);
  assertTlsRefused(res, 'gemini', 'wrong host (gemini)');
  assert.equal(up.requests.length, 0);
  await proxy.stopClean();
});

test('TLS failures on one provider do not affect another; the proxy keeps serving', async (t) => {
  const bad = await httpsUpstream(t, certs.wrongHost, (req, res) => json(res, 200, {}));
  const good = await httpsUpstream(t, certs.server, (req, res) => json(res, 200, ANTHROPIC_MESSAGE));
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const proxy = await startProxy(t, {
    providers: {
      openai: openaiProvider(`https://localhost:${bad.port}`, { ca_file: certs.caFile }),
      anthropic: anthropicProvider(`https://localhost:${good.port}`, { ca_file: certs.caFile }),
      gemini: geminiProvider(dead),
    },
  });
  for (let i = 0; i < 3; i++) {
    const r1 = await postJson(`${proxy.url}${SAMPLE.openai.path}`, SAMPLE.openai.body, SAMPLE.openai.headers);
    assertTlsRefused(r1, 'openai', `bad TLS #${i}`);
    const r2 = await sendAnthropic(proxy);
    assert.equal(r2.status, 200, r2.text);
  }
  const r3 = await request(`${proxy.url}/nope`);
  assert.equal(r3.status, 404);
  await proxy.stopClean();
});
