-- spendgate admit: one request's admission in one atomic step (CounterStore::admit; the
-- reference is MemoryCounterStore::admitLocked, docs/enforcement.md explains the layout).
-- Build the call with core::AdmitScript::call and read the reply with AdmitScript::parse.
--
-- KEYS: 1 emergency-stop hash, 2 reservation expiry zset, 3 this reservation's hash,
--       4 budget index zset, then nr rate-limit hashes, nb budget counter hashes,
--       then the global spend counter when ARGV[7] == '1'.
-- ARGV: 1 now ms ('' = Redis TIME), 2 reservation lifetime ms, 3 record retention ms,
--       4 sweep limit, 5 nr, 6 nb, 7 spend flag, 8 spend counter keep-until ms,
--       9 token estimate, then per rate limit (4): requests/min, tokens/min, concurrent, tokens,
--       then per budget (9): limit, amount, hard (1|0), start ms, end ms, name, scope, subject,
--       period. Amounts are decimal picodollars.
-- Reply: {'allowed', rq1, tk1, in1, ...} (GCRA levels and requests in flight after the charge)
--      | {'duplicate'} (this id is still active: nothing charged again)
--      | {'reused'} (this id was settled or expired)
--      | {'estop', field, value, ...} (the emergency-stop hash)
--      | {'rate', index, 'requests'|'tokens'|'concurrent', wait ms (-1 never), rq1, tk1, in1, ...}
--      | {'budget', index, spent, reserved, 'reclaim' when only leased slices stand in the way
--         else '', rq1, tk1, in1, ...} (the levels without this request, for x-ratelimit-*)
-- Batch: ARGV[1] == '*' admits several requests in one call, one after another, each exactly as
-- its own call would (see run below); the reply is the array of their replies.
--#include common.lua

local function admit(KEYS, ARGV)
  local now = clock(ARGV[1])
  local expires = now + tonumber(ARGV[2])
  local retention = tonumber(ARGV[3])
  local sweep_limit = tonumber(ARGV[4])
  local nr, nb = tonumber(ARGV[5]), tonumber(ARGV[6])
  local has_spend = ARGV[7] == '1'
  local spend_keep = ARGV[8]
  local token_estimate = ARGV[9]
  local estop_key, exp_key, rsv_key, index_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
  local RATE_ARGS, BUDGET_ARGS = 9, 9 + 4 * nr

  -- Key types first, so that a failure writes nothing (common.lua check_types; a batch too).
  local written = {exp_key, 'zset', rsv_key, 'hash', index_key, 'zset'}
  for k = 5, 4 + nr + nb do
    written[#written + 1], written[#written + 2] = KEYS[k], 'hash'
  end
  check_types(written)
  sweep(exp_key, now, sweep_limit, retention)

  local state = redis.call('HGET', rsv_key, 'state')
  if state == 'active' then return {'duplicate'} end
  if state then return {'reused'} end

  -- 1. The emergency stop.
  if not memo.estop or memo.estop.key ~= estop_key then
    memo.estop = {key = estop_key, flat = redis.call('HGETALL', estop_key)}
  end
  local estop = memo.estop.flat
  local e = {}
  for i = 1, #estop, 2 do e[estop[i]] = estop[i + 1] end
  if e.active == '1' and (not e.until_ms or e.until_ms == '' or now < tonumber(e.until_ms)) then
    local out = {'estop'}
    for i = 1, #estop do out[#out + 1] = estop[i] end
    return out
  end

  -- 2. Rate limits: drain to now and check, writing nothing yet.
  local rates = {}
  local worst, worst_kind, worst_wait = nil, nil, nil
  local function rank(w)
    if w < 0 then return math.huge end
    return w
  end
  for i = 1, nr do
    local a = RATE_ARGS + (i - 1) * 4
    local r = {key = KEYS[4 + i], rpm = tonumber(ARGV[a + 1]), tpm = tonumber(ARGV[a + 2]),
               conc = tonumber(ARGV[a + 3]), tokens = tonumber(ARGV[a + 4])}
    local h = cached(r.key, RATE_LEVELS, RATE_ALL).f
    r.last = num(h.last)
    local from = drains_from(r.last, now)
    if from ~= r.last then
      -- The clock stepped back: the bucket drains from now on (written even if this call is
      -- refused, or every call would be until the clock is back), as MemoryCounterStore.
      r.last = from
      redis.call('HSET', r.key, 'last', int(from))
    end
    r.rq = drain(num(h.rq), now - r.last, r.rpm)
    r.tk = drain(num(h.tk), now - r.last, r.tpm)
    r.inflight = num(h.inflight)
    rates[i] = r
    local stalled = stalled_ms(r.last, now)
    local function consider(kind, wait)
      if wait == 0 then return end
      if not worst or rank(wait) > rank(worst_wait) then
        worst, worst_kind, worst_wait = i, kind, wait
      end
    end
    -- A wait for the bucket to drain starts once it drains again (a clock behind `last`).
    local function after_stall(wait)
      if wait > 0 then return wait + stalled end
      return wait
    end
    if r.rpm > 0 then consider('requests', after_stall(wait_ms(r.rq, 1, r.rpm))) end
    if r.tpm > 0 and r.tokens > 0 then
      consider('tokens', after_stall(wait_ms(r.tk, r.tokens, r.tpm)))
    end
    -- 1000: core::kConcurrencyRetryMs (a slot frees up when another request ends)
    if r.conc > 0 and r.inflight >= r.conc then consider('concurrent', 1000) end
  end
  -- Appends the levels read above (nothing charged) to a refusal.
  local function with_levels(out)
    for i = 1, nr do
      out[#out + 1] = rates[i].rq
      out[#out + 1] = rates[i].tk
      out[#out + 1] = rates[i].inflight
    end
    return out
  end
  if worst then return with_levels({'rate', worst, worst_kind, worst_wait}) end

  -- 3. Hard budgets: spent + reserved + worst case <= limit. Of several that refuse, the denial
  -- names the one that resets last (first in config order among equals), as MemoryCounterStore;
  -- one refused outright goes before one only leased slices stand in the way of.
  local budgets = {}
  local refusal = nil
  for j = 1, nb do
    local a = BUDGET_ARGS + (j - 1) * 9
    local b = {key = KEYS[4 + nr + j], limit = ARGV[a + 1], amount = big(ARGV[a + 2]),
               hard = ARGV[a + 3] == '1', start = ARGV[a + 4], finish = ARGV[a + 5],
               name = ARGV[a + 6], scope = ARGV[a + 7], subject = ARGV[a + 8],
               period = ARGV[a + 9]}
    budgets[j] = b
    if b.hard then
      local c = cached(b.key, BUDGET_CHECK, BUDGET_ADMIT)
      if c.f.lexp and c.f.lexp ~= '' and tonumber(c.f.lexp) <= now then
        flush()  -- expire_leases works on Redis directly
        expire_leases(b.key, now)
        c = cached(b.key, BUDGET_CHECK, BUDGET_ADMIT)
      end
      local h = c.f
      local spent, reserved, leased = money(h.spent), money(h.reserved), money(h.leased)
      local need = big_add(big_add(spent, reserved), b.amount)
      if big_gt(big_add(need, leased), big(b.limit)) then
        local reclaim = big_gt(leased, {0, 0}) and not big_gt(need, big(b.limit))
        local finish = tonumber(b.finish)
        if not refusal or (refusal.reclaim and not reclaim) or
           (refusal.reclaim == reclaim and finish > refusal.finish) then
          refusal = {j = j, spent = spent, reserved = reserved, reclaim = reclaim, finish = finish,
                     key = b.key}
        end
      end
    end
  end
  if refusal then
    if refusal.reclaim then
      -- Only slices leased to instances stand in the way: ask their holders to give back
      -- what they do not use; the caller retries shortly (docs/store.md).
      redis.call('HSET', refusal.key, 'reclaim', int(now + RECLAIM_MS))
      return with_levels({'budget', refusal.j, big_str(refusal.spent), big_str(refusal.reserved),
                          'reclaim'})
    end
    return with_levels({'budget', refusal.j, big_str(refusal.spent), big_str(refusal.reserved), ''})
  end

  -- 4. Everything passes: charge, reserve and record.
  local record = {'state', 'active', 'exp', int(expires), 'tokens', token_estimate,
                  'nr', int(nr), 'nb', int(nb), 'spend', '', 'spend_keep', '0'}
  local out = {'allowed'}
  for i = 1, nr do
    local r = rates[i]
    if r.rpm > 0 then r.rq = add_units(r.rq, 1) end
    if r.tpm > 0 then r.tk = add_units(r.tk, r.tokens) end
    if r.conc > 0 then r.inflight = r.inflight + 1 end
    local c = cached(r.key, RATE_LEVELS, RATE_ALL)
    set_cached(c, 'rq', r.rq)
    set_cached(c, 'tk', r.tk)
    set_cached(c, 'last', next_last(r.last, now))
    set_cached(c, 'inflight', r.inflight)
    set_cached(c, 'rpm', r.rpm)
    set_cached(c, 'tpm', r.tpm)
    want_ttl(r.key, math.max(2 * WINDOW, expires + retention - now))
    local flags = ''
    if r.tpm > 0 then flags = flags .. 't' end
    if r.conc > 0 then flags = flags .. 'c' end
    record[#record + 1] = 'r' .. i
    record[#record + 1] = r.key
    record[#record + 1] = 'f' .. i
    record[#record + 1] = flags
    out[#out + 1] = r.rq
    out[#out + 1] = r.tk
    out[#out + 1] = r.inflight
  end
  for j = 1, nb do
    local b = budgets[j]
    local c = cached(b.key, BUDGET_LEVELS, BUDGET_ADMIT)
    if not c.exists then
      c.writes = BUDGET_ROW
      set_cached(c, 'spent', '0')
      for _, field in ipairs({'name', 'scope', 'subject', 'period', 'start'}) do
        set_cached(c, field, b[field])
      end
      set_cached(c, 'end', b.finish)
    end
    local reserve = {0, 0}
    if b.hard then reserve = b.amount end
    set_cached(c, 'reserved', big_add(money(c.f.reserved), reserve))
    -- limit and mode follow the current config (a reload may change them).
    set_cached(c, 'limit', b.limit)
    set_cached(c, 'mode', b.hard and 'hard' or 'soft')
    if memo.indexed[b.key] ~= b.finish then
      redis.call('ZADD', index_key, b.finish, b.key)
      memo.indexed[b.key] = b.finish
    end
    want_ttl(b.key, math.max(tonumber(b.finish), expires + retention) + WINDOW - now)
    record[#record + 1] = 'b' .. j
    record[#record + 1] = b.key
    record[#record + 1] = 'a' .. j
    record[#record + 1] = big_str(reserve)
  end
  if has_spend then
    record[12] = KEYS[5 + nr + nb]
    record[14] = spend_keep
  end
  -- The record is new (state was nil above), so it has no TTL: active records never expire.
  redis.call('HSET', rsv_key, unpack(record))
  index_expiry(exp_key, rsv_key, expires)
  return out
end

return run(admit)
