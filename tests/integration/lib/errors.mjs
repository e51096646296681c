// Assertions on errors that the proxy generates itself, in each provider's format.
import assert from 'node:assert/strict';

export const EXPECTED_CODES = {
  openai: {
    400: 'bad_request', 404: 'not_found', 408: 'request_timeout', 413: 'request_too_large', 417: 'expectation_failed',
    431: 'request_header_fields_too_large', 501: 'unsupported_transfer_coding', 502: 'upstream_unavailable',
    504: 'upstream_timeout', 505: 'http_version_not_supported',
  },
  anthropic: {
    400: 'invalid_request_error', 404: 'not_found_error', 408: 'invalid_request_error', 413: 'request_too_large', 417: 'invalid_request_error',
    431: 'invalid_request_error', 501: 'invalid_request_error', 502: 'api_error', 504: 'api_error',
    505: 'invalid_request_error',
  },
  gemini: {
    400: 'INVALID_ARGUMENT', 404: 'NOT_FOUND', 408: 'DEADLINE_EXCEEDED', 413: 'INVALID_ARGUMENT', 417: 'FAILED_PRECONDITION',
    431: 'INVALID_ARGUMENT', 501: 'UNIMPLEMENTED', 502: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
    505: 'UNIMPLEMENTED',
  },
};

/**
 * res: { status, headers (lower-case keys), body|text }. Asserts status, request id, JSON content type
 * and the provider-format error shape with the expected code/type/status.
 */
export function assertProxyError(res, format, status, what = '') {
  const text = res.text ?? res.body?.toString('utf8');
  const ctx = `${what} -> ${res.status} ${JSON.stringify(res.headers)} ${text}`;
  assert.equal(res.status, status, `status ${ctx}`);
  const rid = res.headers['x-spendgate-request-id'];
  assert.ok(typeof rid === 'string' && rid.length > 0, `x-spendgate-request-id missing on error ${ctx}`);
  // SPEC §3: every non-streamed answer carries its cost (the proxy's own errors too).
  assert.match(res.headers['x-spendgate-cost-usd'] ?? '', /^\d+(\.\d+)?$/, `x-spendgate-cost-usd ${ctx}`);
  assert.match(res.headers['content-type'] ?? '', /application\/json/, `content-type ${ctx}`);
  let body;
  assert.doesNotThrow(() => { body = JSON.parse(text); }, `error body is not JSON: ${ctx}`);
  const expected = EXPECTED_CODES[format][status];
  switch (format) {
    case 'openai': {
      assert.ok(body.error && typeof body.error === 'object', `openai error object ${ctx}`);
      assert.equal(typeof body.error.message, 'string', `openai error.message ${ctx}`);
      assert.ok(body.error.message.length > 0, `openai error.message empty ${ctx}`);
      assert.equal(typeof body.error.type, 'string', `openai error.type ${ctx}`);
      assert.ok('param' in body.error, `openai error.param missing ${ctx}`);
      assert.equal(body.error.param, null, `openai error.param ${ctx}`);
      assert.equal(body.error.code, expected, `openai error.code ${ctx}`);
      break;
    }
    case 'anthropic': {
      assert.equal(body.type, 'error', `anthropic type ${ctx}`);
      assert.ok(body.error && typeof body.error === 'object', `anthropic error object ${ctx}`);
      assert.equal(body.error.type, expected, `anthropic error.type ${ctx}`);
      assert.equal(typeof body.error.message, 'string', `anthropic error.message ${ctx}`);
      assert.ok(body.error.message.length > 0, `anthropic error.message empty ${ctx}`);
      break;
    }
    case 'gemini': {
      assert.ok(body.error && typeof body.error === 'object', `gemini error object ${ctx}`);
      assert.equal(body.error.code, status, `gemini error.code ${ctx}`);
      assert.equal(body.error.status, expected, `gemini error.status ${ctx}`);
      assert.equal(typeof body.error.message, 'string', `gemini error.message ${ctx}`);
      assert.ok(body.error.message.length > 0, `gemini error.message empty ${ctx}`);
      break;
    }
    default:
      throw new Error(`unknown format ${format}`);
  }
  return body;
}

/** One representative request per format (path + body) used by error tests. */
export const SAMPLE = {
  openai: {
    path: '/v1/chat/completions',
    headers: { authorization: 'Bearer sk-test' },
    body: { model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] },
  },
  anthropic: {
    path: '/v1/messages',
    headers: { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' },
    body: { model: 'claude-3-5-haiku-20241022', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] },
  },
  gemini: {
    path: '/v1beta/models/gemini-2.0-flash:generateContent',
    headers: { 'x-goog-api-key': 'gm-test' },
    body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generationConfig: { maxOutputTokens: 16 } },
  },
};
