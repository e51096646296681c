// Realistic provider bodies (shapes from /work/shared/provider-usage.md), usage included.

export const OPENAI_CHAT_COMPLETION = {
  id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
  object: 'chat.completion',
  created: 1741570283,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [{
    index: 0,
    message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null, annotations: [] },
    logprobs: null,
    finish_reason: 'stop',
  }],
  usage: {
    prompt_tokens: 19, completion_tokens: 10, total_tokens: 29,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  },
  service_tier: 'default',
  system_fingerprint: 'fp_06737a9306',
};

/**
 * OpenAI chat stream chunks. With includeUsage, every content chunk carries "usage": null and one
 * extra chunk with choices: [] and the usage precedes [DONE] (as api.openai.com does).
 */
export function openaiChatChunks({ includeUsage }) {
  const base = { id: 'chatcmpl-B9MHEaQpE2D0v1mFqU2tNsy9fXyZd', object: 'chat.completion.chunk', created: 1741570284, model: 'gpt-4o-mini-2024-07-18', service_tier: 'default', system_fingerprint: 'fp_06737a9306' };
  const deltas = [
    [{ role: 'assistant', content: '', refusal: null }, null],
    [{ content: 'Hello' }, null],
    [{ content: '! How' }, null],
    [{ content: ' can I help?' }, null],
    [{}, 'stop'],
  ];
  const chunks = deltas.map(([delta, finish]) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  }));
  if (includeUsage) {
    chunks.push({
      ...base,
      choices: [],
      usage: {
        prompt_tokens: 10, completion_tokens: 5, total_tokens: 15,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
      },
    });
  }
  return chunks;
}

export function openaiChatSse({ includeUsage }) {
  return openaiChatChunks({ includeUsage }).map((c) => `data: ${JSON.stringify(c)}\n\n`).concat(['data: [DONE]\n\n']);
}

export const ANTHROPIC_MESSAGE = {
  id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
  type: 'message',
  role: 'assistant',
  model: 'claude-3-5-haiku-20241022',
  content: [{ type: 'text', text: 'Hello! How can I assist you today?' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: {
    input_tokens: 4, cache_creation_input_tokens: 1676, cache_read_input_tokens: 0,
    output_tokens: 12, service_tier: 'standard',
  },
};

export function anthropicEvents() {
  return [
    { event: 'message_start', data: { type: 'message_start', message: { id: 'msg_01TzV8hR3cYw1kLp4Q9bXf2A', type: 'message', role: 'assistant', model: 'claude-3-5-haiku-20241022', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 11, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 3, service_tier: 'standard' } } } },
    { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } },
    { event: 'ping', data: { type: 'ping' } },
    { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: "I'm Claude" } } },
    { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ', an AI assistant.' } } },
    { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
    { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 89 } } },
    { event: 'message_stop', data: { type: 'message_stop' } },
  ];
}

export function geminiChunks() {
  return [
    { candidates: [{ content: { parts: [{ text: 'Hello' }], role: 'model' }, index: 0 }], usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 }, modelVersion: 'gemini-2.0-flash', responseId: 'B94hXk1' },
    { candidates: [{ content: { parts: [{ text: ' there!' }], role: 'model' }, finishReason: 'STOP', index: 0 }], usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 3, totalTokenCount: 11, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 8 }] }, modelVersion: 'gemini-2.0-flash', responseId: 'B94hXk1' },
  ];
}
