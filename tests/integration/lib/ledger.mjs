// Ledger (SPEC §6) helpers: read/poll the JSONL file, exact decimal money, hand-computed costs,
// key hashing. Money is handled as BigInt picodollars (1e-12 USD) so comparisons are exact.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const LEDGER_FIELDS = [
  'ts', 'request_id', 'provider', 'model', 'requested_model', 'key', 'user', 'team', 'customer', 'agent',
  'status', 'stream', 'input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens',
  'reasoning_tokens', 'cost_usd', 'price_source', 'usage_source', 'latency_ms', 'upstream_ms',
];

/** The ledger path startProxy() puts in the generated config (unless `ledger` was given). */
export const ledgerPathOf = (proxy) => path.join(proxy.dir, 'ledger.jsonl');

/** Raw text of the file ('' when it does not exist yet). */
export function ledgerText(file) {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/**
 * Complete lines of the ledger, each as { raw, json } (json = JSON.parse(raw)).
 * A trailing partial line (no '\n' yet) is ignored.
 */
export function readLedger(file) {
  const text = ledgerText(file);
  const end = text.lastIndexOf('\n');
  if (end < 0) return [];
  return text.slice(0, end).split('\n').filter((l) => l.length > 0).map((raw) => {
    let json;
    try { json = JSON.parse(raw); } catch (e) { throw new Error(`ledger line is not JSON: ${raw}\n${e}`); }
    return { raw, json };
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Poll until the ledger holds at least `n` lines (bounded by `timeout`), then wait `settleMs` more
 * and assert there are exactly `n` (no late extra line). Returns the entries.
 */
export async function waitForLedger(file, n, { timeout = 5_000, settleMs = 150, what = '' } = {}) {
  const deadline = Date.now() + timeout;
  let lines = readLedger(file);
  while (lines.length < n) {
    if (Date.now() > deadline) {
      assert.fail(`ledger ${what}: expected ${n} line(s) within ${timeout} ms, found ${lines.length}:\n${ledgerText(file)}`);
    }
    await sleep(10);
    lines = readLedger(file);
  }
  if (settleMs > 0) {
    await sleep(settleMs);
    lines = readLedger(file);
  }
  assert.equal(lines.length, n, `ledger ${what}: expected exactly ${n} line(s), found ${lines.length}:\n${ledgerText(file)}`);
  return lines;
}

/** Poll until a line with this request id appears; returns it (asserts it is the only one). */
export async function waitForEntry(file, requestId, { timeout = 5_000, settleMs = 100 } = {}) {
  assert.ok(requestId, 'no request id to look for');
  const deadline = Date.now() + timeout;
  for (;;) {
    const found = readLedger(file).filter((l) => l.json.request_id === requestId);
    if (found.length > 0) {
      if (settleMs > 0) await sleep(settleMs);
      const again = readLedger(file).filter((l) => l.json.request_id === requestId);
      assert.equal(again.length, 1, `request ${requestId} has ${again.length} ledger lines:\n${again.map((l) => l.raw).join('\n')}`);
      return again[0];
    }
    if (Date.now() > deadline) assert.fail(`no ledger line for request ${requestId} within ${timeout} ms:\n${ledgerText(file)}`);
    await sleep(10);
  }
}

/** The raw JSON text of a top-level scalar member of a ledger line (e.g. the digits of cost_usd). */
export function rawMember(rawLine, name) {
  const re = new RegExp(`"${name}":(-?[0-9][0-9.eE+-]*|"(?:[^"\\\\]|\\\\.)*"|true|false|null)`);
  const m = re.exec(rawLine);
  assert.ok(m, `member ${name} not found in ledger line ${rawLine}`);
  return m[1];
}

/**
 * Exact decimal text (as in JSON: "0.00024", "1.5e-4", "-3") to BigInt picodollars.
 * Throws when the value is not a whole number of picodollars.
 */
export function usdToPico(text) {
  const m = /^(-)?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(String(text).trim());
  if (!m) throw new Error(`not a decimal number: ${text}`);
  const [, neg, int, frac = '', exp = '0'] = m;
  let digits = BigInt(int + frac);
  let scale = 12 - frac.length + Number(exp); // value = digits * 10^(exp - frac.length); pico = *10^12
  if (scale >= 0) {
    digits *= 10n ** BigInt(scale);
  } else {
    const div = 10n ** BigInt(-scale);
    if (digits % div !== 0n) throw new Error(`${text} USD is not a whole number of picodollars`);
    digits /= div;
  }
  return neg ? -digits : digits;
}

/** BigInt picodollars back to a plain decimal USD string ("0.00024"). */
export function picoToUsd(pico) {
  const neg = pico < 0n;
  const mag = neg ? -pico : pico;
  const int = mag / 1_000_000_000_000n;
  let frac = (mag % 1_000_000_000_000n).toString().padStart(12, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}

/** tokens × (USD per 1M tokens, as a decimal string) in picodollars, exactly. */
export function perMillion(tokens, rate) {
  const p = BigInt(tokens) * usdToPico(rate);
  assert.equal(p % 1_000_000n, 0n, `${tokens} x ${rate}/1M is not whole picodollars`);
  return p / 1_000_000n;
}

/** Sum of [tokens, rate] terms in picodollars. */
export function costOf(terms) {
  return terms.reduce((sum, [tokens, rate]) => sum + perMillion(tokens, rate), 0n);
}

/**
 * Assert that a ledger line's cost_usd (read from the raw JSON text, never through a float) equals
 * `expectedUsd` (a decimal string) exactly; also that it is a JSON number, not a string.
 * If `terms` is given, the hand arithmetic must agree with the stated total too.
 */
export function assertCost(entry, expectedUsd, terms, what = '') {
  const rawCost = rawMember(entry.raw, 'cost_usd');
  assert.ok(!rawCost.startsWith('"'), `cost_usd must be a JSON number, got ${rawCost} ${what}`);
  if (terms) {
    assert.equal(picoToUsd(costOf(terms)), picoToUsd(usdToPico(expectedUsd)),
      `test arithmetic disagrees with the stated total ${expectedUsd} ${what}`);
  }
  assert.equal(usdToPico(rawCost), usdToPico(expectedUsd),
    `cost_usd ${rawCost} != expected ${expectedUsd} ${what}\n${entry.raw}`);
  assert.ok(Math.abs(entry.json.cost_usd - Number(expectedUsd)) <= 1e-12, `parsed cost_usd ${entry.json.cost_usd} ${what}`);
}

/** Assert the x-spendgate-cost-usd header equals `expectedUsd` exactly as a decimal. */
export function assertCostHeader(headerValue, expectedUsd, what = '') {
  assert.ok(typeof headerValue === 'string' && headerValue.length > 0, `x-spendgate-cost-usd missing ${what}`);
  assert.equal(usdToPico(headerValue), usdToPico(expectedUsd), `x-spendgate-cost-usd ${headerValue} != ${expectedUsd} ${what}`);
}

/** Every SPEC §6 field present with the right JSON type; basic invariants. */
export function assertLedgerShape(entry, what = '') {
  const j = entry.json;
  const ctx = `${what}\n${entry.raw}`;
  for (const f of LEDGER_FIELDS) assert.ok(f in j, `ledger field ${f} missing ${ctx}`);
  for (const f of ['ts', 'request_id', 'provider', 'model', 'requested_model', 'key', 'user', 'team',
    'customer', 'agent', 'price_source', 'usage_source']) {
    assert.equal(typeof j[f], 'string', `ledger ${f} must be a string ${ctx}`);
  }
  for (const f of ['status', 'input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens',
    'reasoning_tokens']) {
    assert.ok(Number.isInteger(j[f]) && j[f] >= 0, `ledger ${f} must be a non-negative integer ${ctx}`);
  }
  assert.equal(typeof j.stream, 'boolean', `ledger stream ${ctx}`);
  assert.equal(typeof j.cost_usd, 'number', `ledger cost_usd must be a number ${ctx}`);
  assert.ok(j.cost_usd >= 0, `negative cost ${ctx}`);
  assert.equal(typeof j.latency_ms, 'number', `latency_ms ${ctx}`);
  assert.equal(typeof j.upstream_ms, 'number', `upstream_ms ${ctx}`);
  assert.ok(j.latency_ms >= 0 && j.upstream_ms >= 0, `negative timings ${ctx}`);
  assert.ok(j.latency_ms + 1e-9 >= j.upstream_ms, `latency_ms < upstream_ms ${ctx}`);
  assert.match(j.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, `ts not RFC 3339 UTC ${ctx}`);
  assert.ok(Math.abs(Date.parse(j.ts) - Date.now()) < 10 * 60_000, `ts far from now ${ctx}`);
  assert.ok(['provider', 'estimated'].includes(j.usage_source), `usage_source ${ctx}`);
  assert.ok(j.cached_input_tokens <= j.input_tokens, `cached > input ${ctx}`);
  assert.ok(j.cache_write_tokens <= j.input_tokens, `cache_write > input ${ctx}`);
  assert.ok(j.cached_input_tokens + j.cache_write_tokens <= j.input_tokens, `cached + cache_write > input ${ctx}`);
  assert.ok(j.reasoning_tokens <= j.output_tokens, `reasoning > output ${ctx}`);
}

/** Assert a subset of fields (deepEqual on each given key). */
export function assertFields(entry, expected, what = '') {
  const got = Object.fromEntries(Object.keys(expected).map((k) => [k, entry.json[k]]));
  assert.deepEqual(got, expected, `ledger fields ${what}\n${entry.raw}`);
}

export const sha256hex = (s) => createHash('sha256').update(s).digest('hex');
/** The ledger `key` of a passthrough caller: fp_ + the first 12 hex digits of sha256(key). */
export const keyFingerprint = (key) => `fp_${sha256hex(key).slice(0, 12)}`;
