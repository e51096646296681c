-- spendgate lease: one instance's flush of its leased slices (LeasingCounterStore, docs/store.md
-- "Leased slices"). Build the call with core::LeaseScript::call and read it with LeaseScript::parse.
--
-- Per entry, in one atomic step with every other entry of the call:
--  'b' budget counter: spent += delta (spend settled locally, out of this instance's slice), the
--     slice shrinks by delta + release, and when `unit` > 0 (the instance wants a slice), no
--     reclaim mark is set and headroom = limit - spent - reserved - leased >= factor x unit, the
--     slice is topped up to headroom / divisor if its unused part is below half of that. The
--     lease record's expiry becomes now + ttl. Soft counters only add delta. If this instance's
--     slice lapsed before (charged as spent, `C:<id>`, common.lua), the charge is cut down to
--     what the instance still holds beyond its slice: `held` (its in-flight worst cases and
--     spend not sent yet) - slice; the rest is given back (spent and lapsed shrink).
--  'r' rate-limit bucket: the unused units of the last slice are refunded, then (want > 0, all
--     limited dimensions with headroom >= factor x want) a new slice of headroom / divisor units
--     is charged to the bucket, so every instance sees it.
--  's' global spend counter: += delta.
-- Idempotent per (instance, seq): a seq not above the last one applied (KEYS[1]) changes nothing
-- and answers the current state with tag 'replay' (a retry after a lost reply).
--
-- KEYS: 1 the instance's sequence key, 2 budget index zset, then one key per entry.
-- ARGV: 1 now ms ('' = Redis TIME), 2 instance id, 3 seq, 4 lease ttl ms, 5 number of entries,
--       6 factor, 7 divisor, then 13 per entry:
--       'b', limit, hard (1|0), start ms, end ms, name, scope, subject, period, delta, release,
--            unit, held
--       'r', rpm, tpm, refund requests, refund tokens, want requests, want tokens, 6 x ''
--       's', keep-until ms, delta, 10 x ''
-- Reply: {'ok'|'replay', then per entry an array:
--         'b': {exists 1|0, this instance's lease, spent, reserved, leased, reclaim 1|0}
--         'r': {granted requests, granted tokens, rq level, tk level}
--         's': {total}}
--#include common.lua

local now = clock(ARGV[1])
local holder, seq, ttl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local n, factor, divisor = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local seq_key, index_key = KEYS[1], KEYS[2]
local E = 13
-- Every key written below is checked before the sequence number: a failure after it would make
-- the retry a replay, and the spend of the entries not applied would be lost.
local written = {seq_key, 'string', index_key, 'zset'}
for e = 1, n do
  local kind = ARGV[7 + (e - 1) * E + 1]
  written[#written + 1], written[#written + 2] = KEYS[2 + e], kind == 's' and 'string' or 'hash'
end
check_types(written)
local replay = seq <= tonumber(redis.call('GET', seq_key) or '0')
if not replay then redis.call('SET', seq_key, int(seq), 'PX', '86400000') end
local LF, XF, CF = 'L:' .. holder, 'X:' .. holder, 'C:' .. holder

local function big_mul(a, k)
  local lo = a[2] * k
  local carry = math.floor(lo / BASE)
  return {a[1] * k + carry, lo - carry * BASE}
end

local function big_div(a, k)
  local hi = math.floor(a[1] / k)
  local rest = (a[1] - hi * k) * BASE + a[2]
  return {hi, math.floor(rest / k)}
end

local function lease_budget(key, a)
  local hard = ARGV[a + 3] == '1'
  local delta, release, unit = big(ARGV[a + 10]), big(ARGV[a + 11]), big(ARGV[a + 12])
  local held = big(ARGV[a + 13])
  expire_leases(key, now)
  if redis.call('EXISTS', key) == 0 then
    if replay or not big_gt(delta, ZERO) then return {'0', '0', '0', '0', '0', '0'} end
    redis.call('HSET', key, 'spent', '0', 'reserved', '0', 'limit', ARGV[a + 2], 'mode',
               hard and 'hard' or 'soft', 'name', ARGV[a + 6], 'scope', ARGV[a + 7], 'subject',
               ARGV[a + 8], 'period', ARGV[a + 9], 'start', ARGV[a + 4], 'end', ARGV[a + 5])
    redis.call('ZADD', index_key, ARGV[a + 5], key)
    keep(key, math.max(tonumber(ARGV[a + 5]), now) + WINDOW - now)
  end
  local h = fields(key)
  local spent, reserved, leased = big(h.spent), big(h.reserved), big(h.leased)
  local mine = big(h[LF])
  local reclaim = h.reclaim and h.reclaim ~= '' and tonumber(h.reclaim) > now
  if not replay then
    spent = big_add(spent, delta)
    local kept = big_sub0(mine, big_add(delta, release))
    leased = big_sub0(leased, big_sub0(mine, kept))
    mine = kept
    -- The limit is this instance's current rule, as in admit.lua: a reload may have lowered it
    -- below what the hash says (and below what was spent: then no slice at all).
    local limit = big(ARGV[a + 2])
    if hard and not reclaim and big_gt(unit, ZERO) then
      local headroom = big_sub0(limit, big_add(big_add(spent, reserved), leased))
      if not big_gt(big_mul(unit, factor), headroom) then
        local slice = big_div(headroom, divisor)
        if big_gt(slice, big_mul(mine, 2)) then
          local grant = big_sub0(slice, mine)
          mine = big_add(mine, grant)
          leased = big_add(leased, grant)
        end
      end
    end
    -- limit and mode follow the current config, as admit.lua writes them.
    local args = {'spent', big_str(spent), 'leased', big_str(leased), 'limit', ARGV[a + 2],
                  'mode', hard and 'hard' or 'soft'}
    local owed = big(h[CF])
    if big_gt(owed, ZERO) then
      -- Our slice lapsed and was charged (Redis did not hear from us for the ttl); we are alive,
      -- so keep charged only what our slice does not cover: held - slice. Spend that arrives
      -- later (delta, added above) was part of that charge, and is accounted for this way.
      local keep_owed = big_sub0(held, mine)
      if big_gt(owed, keep_owed) then
        local refund = big_sub0(owed, keep_owed)
        spent = big_sub0(spent, refund)
        args[2] = big_str(spent)
        args[#args + 1], args[#args + 2] = 'lapsed', big_str(big_sub0(big(h.lapsed), refund))
        owed = keep_owed
      end
      if big_gt(owed, ZERO) then
        args[#args + 1], args[#args + 2] = CF, big_str(owed)
      else
        redis.call('HDEL', key, CF)
      end
    end
    if big_gt(mine, ZERO) then
      local until_ms = now + ttl
      args[#args + 1], args[#args + 2] = LF, big_str(mine)
      args[#args + 1], args[#args + 2] = XF, int(until_ms)
      if not h.lexp or h.lexp == '' or tonumber(h.lexp) > until_ms then
        args[#args + 1], args[#args + 2] = 'lexp', int(until_ms)
      end
    else
      redis.call('HDEL', key, LF, XF)
    end
    redis.call('HSET', key, unpack(args))
  end
  return {'1', big_str(mine), big_str(spent), big_str(reserved), big_str(leased),
          reclaim and '1' or '0'}
end

-- A slice of one rate dimension (limit per minute, bucket level): headroom / divisor units when
-- the headroom is at least factor x want, else none; `false` refuses the whole rate entry.
-- An unlimited dimension (limit 0) grants nothing and refuses nothing.
local function rate_slice(limit, level, want)
  if limit <= 0 then return 0, true end
  local headroom = limit - ceil_div(level, WINDOW)
  if headroom < factor * math.max(1, want) then return 0, false end
  return math.floor(headroom / divisor), true
end

local function lease_rate(key, a)
  local rpm, tpm = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local refund_rq, refund_tk = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local want_rq, want_tk = tonumber(ARGV[a + 6]), tonumber(ARGV[a + 7])
  local values = redis.call('HMGET', key, 'rq', 'tk', 'last')
  local exists = values[1] ~= false
  local last = tonumber(values[3] or '0')
  local rq = drain(tonumber(values[1] or '0'), now - last, rpm)
  local tk = drain(tonumber(values[2] or '0'), now - last, tpm)
  local g_rq, g_tk = 0, 0
  if replay or not exists then return {0, 0, rq, tk} end
  rq = add_units(rq, -refund_rq)
  tk = add_units(tk, -refund_tk)
  if want_rq > 0 or want_tk > 0 then
    local ok_rq, ok_tk
    g_rq, ok_rq = rate_slice(rpm, rq, want_rq)
    g_tk, ok_tk = rate_slice(tpm, tk, want_tk)
    if not (ok_rq and ok_tk) then g_rq, g_tk = 0, 0 end
    rq = add_units(rq, g_rq)
    tk = add_units(tk, g_tk)
  end
  redis.call('HSET', key, 'rq', int(rq), 'tk', int(tk), 'last', int(next_last(last, now)))
  return {g_rq, g_tk, rq, tk}
end

local function lease_spend(key, a)
  local delta = big(ARGV[a + 3])
  local total = big(redis.call('GET', key))
  if not replay and big_gt(delta, ZERO) then
    total = big_add(total, delta)
    local keep_ms = tonumber(ARGV[a + 2]) - now
    if keep_ms > 0 then
      redis.call('SET', key, big_str(total), 'PX', int(keep_ms))
    else
      redis.call('SET', key, big_str(total))
    end
  end
  return {big_str(total)}
end

local out = {replay and 'replay' or 'ok'}
for e = 1, n do
  local a = 7 + (e - 1) * E
  local key, kind = KEYS[2 + e], ARGV[a + 1]
  if kind == 'b' then
    out[#out + 1] = lease_budget(key, a)
  elseif kind == 'r' then
    out[#out + 1] = lease_rate(key, a)
  else
    out[#out + 1] = lease_spend(key, a)
  end
end
return out
