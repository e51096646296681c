// Upstream keep-alive reuse and response framing (audit 14 H4): bytes an upstream sends past the
// end of an answer (after its Content-Length, after the last chunk of a chunked body, or later,
// while the connection sits idle in the pool) answer no request. The connection they came on is
// closed, never handed to the next caller, who would read them as its own answer (another
// caller's completion, billed to it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startProxy, providers } from './lib/proxy.mjs';
import { request } from './lib/http.mjs';
import { ledgerPathOf, waitForLedger, keyFingerprint } from './lib/ledger.mjs';

/** A chat completion saying `answer-for-<tag>` with `prompt` input tokens. */
function answerBody(tag, prompt) {
  return JSON.stringify({
    id: `chatcmpl-${tag}`, object: 'chat.completion', created: 1, model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: `answer-for-${tag}` }, finish_reason: 'stop' }],
    usage: { prompt_tokens: prompt, completion_tokens: 1, total_tokens: prompt + 1 },
  });
}

const lengthAnswer = (body) =>
  `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const chunkedAnswer = (body) =>
  `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
// A complete second answer, as an upstream that desynchronised would send it.
const SMUGGLED = lengthAnswer(answerBody('SMUGGLED', 1));

// Input tokens each caller's own answer reports, so the ledger shows whose usage each was billed.
const PROMPT = { A: 11, B: 22, C: 33 };

/**
 * A raw TCP upstream that answers each request with `answer-for-<x-tag>`; the request with
 * x-tag A gets `answerA(body)` instead. It counts connections and keeps the sockets.
 */
async function taggedUpstream(t, answerA) {
  const sockets = [];
  const srv = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end);
        const cl = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + cl) return;
        buf = buf.slice(end + 4 + cl);
        const tag = /\r\nx-tag:\s*(\S+)/i.exec(head)?.[1] ?? 'none';
        const body = answerBody(tag, PROMPT[tag] ?? 5);
        s.write(tag === 'A' ? answerA(body) : lengthAnswer(body));
      }
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => { for (const s of sockets) s.destroy(); srv.close(); });
  return { url: `http://127.0.0.1:${srv.address().port}`, sockets };
}

const ask = (proxy, tag) => request(`${proxy.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer sk-caller-${tag}`, 'x-tag': tag },
  body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
});

/** Sends A, then (after `betweenAandB`) B and C, each from its own caller; checks answers and bills. */
async function eachCallerGetsItsOwnAnswer(t, answerA, { betweenAandB, warned = true } = {}) {
  const up = await taggedUpstream(t, answerA);
  const proxy = await startProxy(t, { providers: await providers({ openai: up.url }) });
  const answers = {};
  for (const tag of ['A', 'B', 'C']) {
    if (tag === 'B' && betweenAandB) await betweenAandB(up);
    const res = await ask(proxy, tag);
    assert.equal(res.status, 200, `${tag}: ${res.text}`);
    answers[tag] = JSON.parse(res.text).choices[0].message.content;
  }
  assert.deepEqual(answers, { A: 'answer-for-A', B: 'answer-for-B', C: 'answer-for-C' });
  const lines = (await waitForLedger(ledgerPathOf(proxy), 3)).map((l) => l.json);
  for (const tag of ['A', 'B', 'C']) {
    const line = lines.find((l) => l.key === keyFingerprint(`sk-caller-${tag}`));
    assert.ok(line, `${tag}: ${JSON.stringify(lines)}`);
    assert.equal(line.input_tokens, PROMPT[tag], `${tag} is billed its own usage: ${JSON.stringify(line)}`);
  }
  // The connection that carried the extra bytes was not reused: B came on a new one, and C
  // reused B's.
  assert.equal(up.sockets.length, 2);
  if (warned) assert.match(proxy.stderr, /bytes after the end of its answer; connection closed, not reused/);
  await proxy.stopClean();
}

test('a complete second answer after a Content-Length answer is not read as the next caller\'s answer', async (t) => {
  await eachCallerGetsItsOwnAnswer(t, (body) => lengthAnswer(body) + SMUGGLED);
});

test('an answer after the last chunk of a chunked answer is not read as the next caller\'s answer', async (t) => {
  await eachCallerGetsItsOwnAnswer(t, (body) => chunkedAnswer(body) + SMUGGLED);
});

test('bytes past an answer\'s Content-Length do not make the next caller\'s answer a 502', async (t) => {
  await eachCallerGetsItsOwnAnswer(t, (body) => lengthAnswer(body) + 'garbage after the body\r\n');
});

// The extra answer comes after A's answer was relayed, while the connection is idle in the pool
// (well under the second after which an idle connection used to be probed).
test('an answer an upstream sends on an idle pooled connection is not read as the next caller\'s answer', async (t) => {
  await eachCallerGetsItsOwnAnswer(t, lengthAnswer, {
    warned: false,
    betweenAandB: (up) => new Promise((resolve) => up.sockets[0].write(SMUGGLED, resolve)),
  });
});
