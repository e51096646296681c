// Builders for provider streams with chosen usage, in the exact byte layout the real APIs use.
import { writeAsync, sleep } from './fake_upstream.mjs';

/**
 * OpenAI Chat Completions SSE frames. Behaves like api.openai.com: with includeUsage every content
 * chunk carries "usage":null and one extra chunk with choices: [] and the usage precedes [DONE];
 * without it, neither appears.
 *   layout: 'standard'    {id,object,created,model,service_tier,system_fingerprint,choices,usage}
 *           'obfuscation' same plus "obfuscation":"..." after usage (the default on recent streams)
 *           'usage-first' usage member right after id (so its comma follows it)
 *   eol:    '\n' (OpenAI) or '\r\n'
 */
export function openaiChatStreamFrames({
  includeUsage, usage, model = 'gpt-4o-mini-2024-07-18', layout = 'standard', eol = '\n',
  contents = ['Hello', '! The text "usage":null, {"choices":[]} is', ' just text.'],
} = {}) {
  const head = { object: 'chat.completion.chunk', created: 1741570284, model, service_tier: 'default', system_fingerprint: 'fp_06737a9306' };
  const id = 'chatcmpl-B9MHEaQpE2D0v1mFqU2tNsy9fXyZd';
  const deltas = [
    [{ role: 'assistant', content: '', refusal: null }, null],
    ...contents.map((c) => [{ content: c }, null]),
    [{}, 'stop'],
  ];
  let n = 0;
  const build = (choices, usageValue) => {
    const ob = `Zx${(n++).toString(36)}q`;
    let o;
    if (layout === 'usage-first') {
      o = { id };
      if (includeUsage) o.usage = usageValue;
      Object.assign(o, head, { choices });
    } else {
      o = { id, ...head, choices };
      if (includeUsage) o.usage = usageValue;
      if (layout === 'obfuscation') o.obfuscation = ob;
    }
    return `data: ${JSON.stringify(o)}${eol}${eol}`;
  };
  const frames = deltas.map(([delta, finish]) => build([{ index: 0, delta, logprobs: null, finish_reason: finish }], null));
  if (includeUsage) frames.push(build([], usage));
  frames.push(`data: [DONE]${eol}${eol}`);
  return frames;
}

/** OpenAI usage object in the Chat Completions shape. */
export function chatUsage({ prompt, cached = 0, completion, reasoning = 0 }) {
  return {
    prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** A non-streamed chat.completion body. */
export function chatCompletion({ model = 'gpt-4o-mini-2024-07-18', usage, content = 'Hello! How can I help you today?' } = {}) {
  const body = {
    id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG', object: 'chat.completion', created: 1741570283, model,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
    service_tier: 'default', system_fingerprint: 'fp_06737a9306',
  };
  if (usage !== undefined) body.usage = usage;
  return body;
}

/**
 * Write `data` in pieces of `size` bytes (each its own write, so the proxy sees many small reads
 * that split lines, CRLFs and JSON), pausing every `pauseEvery` pieces.
 */
export async function writeInPieces(res, data, { size = 7, pauseEvery = 16, pauseMs = 1 } = {}) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  let i = 0;
  for (let off = 0; off < buf.length; off += size) {
    await writeAsync(res, buf.subarray(off, off + size));
    if (++i % pauseEvery === 0) await sleep(pauseMs);
  }
}
