-- spendgate settle: replaces a reservation with the real cost (CounterStore::settle; the
-- reference is MemoryCounterStore::settleLocked). Idempotent per reservation.
-- Build the call with core::SettleScript::call and read the reply with SettleScript::parse.
--
-- KEYS: 1 reservation expiry zset, 2 the reservation's hash.
-- ARGV: 1 now ms ('' = Redis TIME), 2 actual cost (decimal picodollars), 3 actual tokens,
--       4 record retention ms, 5 sweep limit, 6 tombstone ('1' | absent).
-- Reply: {outcome, spend total or '', then 12 fields per budget counter (see snapshot)} with
--        outcome 'settled' | 'late' (had expired) | 'already' | 'unknown'.
-- Batch: ARGV[1] == '*' settles several reservations in one call, one after another, each exactly
-- as its own call would (see run below); the reply is the array of their replies.
--#include common.lua

local function settle(KEYS, ARGV)
  local now = clock(ARGV[1])
  local actual = big(ARGV[2])
  local tokens = math.max(0, math.min(MAX_UNITS, tonumber(ARGV[3])))
  local retention = tonumber(ARGV[4])
  local exp_key, rsv_key = KEYS[1], KEYS[2]

  check_types({exp_key, 'zset', rsv_key, 'hash'})
  sweep(exp_key, now, tonumber(ARGV[5]), retention)

  local r = fields(rsv_key)
  if r.state == 'active' or r.state == 'expired' then
    local written = record_keys(r, {})
    if r.spend and r.spend ~= '' then
      written[#written + 1], written[#written + 2] = r.spend, 'string'
    end
    check_types(written)
  end
  if not r.state then
    -- Tombstone (the release of an admit whose reply was lost): the admit may still be on its
    -- way (written to a connection Redis had not read yet). A settled record makes it answer
    -- 'reused' and reserve nothing when it runs.
    if ARGV[6] == '1' then
      redis.call('HSET', rsv_key, 'state', 'settled', 'nr', '0', 'nb', '0', 'tomb', '1')
      redis.call('PEXPIRE', rsv_key, int(retention))
    end
    return {'unknown', ''}
  end
  if r.state == 'settled' then return {'already', ''} end
  if r.state == 'active' and tonumber(r.exp) <= now then
    flush()
    expire_reservation(rsv_key, retention, true)  -- the sweep's limit may have left it behind
    r.state, r.chg = 'expired', '1'
  end
  local late = r.state == 'expired'
  -- Expiry charged the worst case as spent (common.lua): the real cost replaces it now.
  local charged = late and r.chg == '1'
  redis.call('ZREM', exp_key, rsv_key)

  local out = {late and 'late' or 'settled', ''}
  for j = 1, tonumber(r.nb) do
    local ckey = r['b' .. j]
    local c = cached(ckey, BUDGET_ROW, BUDGET_SETTLE)
    if c.exists then
      local reserved, spent = money(c.f.reserved), money(c.f.spent)
      local amount = big(r['a' .. j])
      if not late then reserved = big_sub0(reserved, amount) end
      if charged then
        spent = big_sub0(spent, amount)
        set_cached(c, 'lapsed', big_sub0(money(c.f.lapsed), amount))
      end
      set_cached(c, 'spent', big_add(spent, actual))
      set_cached(c, 'reserved', reserved)
      snapshot(out, ckey, c.f)
    end
  end
  for i = 1, tonumber(r.nr) do
    local key, flags = r['r' .. i], r['f' .. i] or ''
    local c = cached(key, RATE_ALL, RATE_LEVELS)
    if c.exists then
      local h = c.f
      local last = num(h.last)
      local rq = drain(num(h.rq), now - last, num(h.rpm))
      local tk = drain(num(h.tk), now - last, num(h.tpm))
      local inflight = num(h.inflight)
      if string.find(flags, 't', 1, true) then tk = add_units(tk, tokens - tonumber(r.tokens)) end
      if string.find(flags, 'c', 1, true) and not late then inflight = math.max(0, inflight - 1) end
      set_cached(c, 'rq', rq)
      set_cached(c, 'tk', tk)
      set_cached(c, 'last', next_last(last, now))
      set_cached(c, 'inflight', inflight)
    end
  end
  if r.spend and r.spend ~= '' then
    local total = big_add(big(redis.call('GET', r.spend)), actual)
    -- SET drops the TTL, so this is keep(r.spend, ttl) in the same command.
    local ttl = tonumber(r.spend_keep) - now
    if ttl > 0 then
      redis.call('SET', r.spend, big_str(total), 'PX', int(ttl))
    else
      redis.call('SET', r.spend, big_str(total))
    end
    out[2] = big_str(total)
  end
  redis.call('HSET', rsv_key, 'state', 'settled')
  redis.call('PEXPIRE', rsv_key, int(retention))
  return out
end

return run(settle)
