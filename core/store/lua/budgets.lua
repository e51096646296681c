-- spendgate budgets: every budget counter whose period contains now, for the admin API
-- (CounterStore::budgets). Releases expired reservations first so `reserved` is current.
-- Build the call with core::BudgetsScript::call and read the reply with BudgetsScript::parse.
--
-- KEYS: 1 reservation expiry zset, 2 budget index zset.
-- ARGV: 1 now ms ('' = Redis TIME), 2 record retention ms, 3 sweep limit.
-- Reply: 11 fields per counter (see snapshot), unsorted.
-- BEGIN common (identical in admit.lua, settle.lua and budgets.lua; lua_scripts_test checks it)
--
-- Money: Lua numbers are doubles, exact only up to 2^53, but picodollar counters reach 9.2e18.
-- So amounts travel as decimal strings and are computed on as {hi, lo} with value hi * 1e9 + lo,
-- both parts exact integers: add, subtract and compare are exact up to ~9e24 picodollars.
-- Everything else (GCRA levels, milliseconds, counts) stays below 1e15 < 2^53.
local BASE = 1000000000
local WINDOW = 60000
local MAX_LEVEL = 1000000000000000
local MAX_UNITS = 10000000000

local function int(x)
  return string.format('%d', x)
end

local function big(s)
  if not s or s == '' then return {0, 0} end
  local n = #s
  if n <= 9 then return {0, tonumber(s)} end
  return {tonumber(string.sub(s, 1, n - 9)), tonumber(string.sub(s, n - 8))}
end

local function big_add(a, b)
  local hi, lo = a[1] + b[1], a[2] + b[2]
  if lo >= BASE then hi, lo = hi + 1, lo - BASE end
  return {hi, lo}
end

-- max(0, a - b)
local function big_sub0(a, b)
  local hi, lo = a[1] - b[1], a[2] - b[2]
  if lo < 0 then hi, lo = hi - 1, lo + BASE end
  if hi < 0 then return {0, 0} end
  return {hi, lo}
end

local function big_gt(a, b)
  if a[1] ~= b[1] then return a[1] > b[1] end
  return a[2] > b[2]
end

local function big_str(a)
  if a[1] == 0 then return int(a[2]) end
  return int(a[1]) .. string.format('%09d', a[2])
end

-- GCRA, as core/enforcement/gcra.cpp.
local function drain(level, elapsed, rate)
  if elapsed <= 0 or rate <= 0 then return level end
  if elapsed > math.floor(MAX_LEVEL / rate) then return 0 end
  return math.max(0, level - elapsed * rate)
end

local function add_units(level, units)
  units = math.max(-MAX_UNITS, math.min(MAX_UNITS, units))
  return math.max(0, math.min(MAX_LEVEL, level + units * WINDOW))
end

-- ceil(a / b) for 0 <= a, 0 < b, exact below 2^53 (the float quotient is only a first guess).
local function ceil_div(a, b)
  local q = math.floor(a / b)
  while q * b < a do q = q + 1 end
  while q > 0 and (q - 1) * b >= a do q = q - 1 end
  return q
end

-- Milliseconds until `units` more fit; -1 = never.
local function wait_ms(level, units, rate)
  if units > rate then return -1 end
  local excess = level + units * WINDOW - rate * WINDOW
  if excess <= 0 then return 0 end
  return ceil_div(excess, rate)
end

local function clock(arg)
  if arg and arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Keeps `key` at least `ttl` more milliseconds (never shortens; a key just created has none
-- yet). Relative, so it also works when the caller passes its own clock.
local function keep(key, ttl)
  if ttl <= 0 then return end
  local current = redis.call('PTTL', key)
  if current < 0 or current < ttl then redis.call('PEXPIRE', key, int(ttl)) end
end

local function fields(key)
  local flat = redis.call('HGETALL', key)
  local map = {}
  for i = 1, #flat, 2 do map[flat[i]] = flat[i + 1] end
  return map
end

-- Releases an active reservation: its reserved amounts and concurrency slots stop counting.
-- The record stays (state expired) for `retention` ms so that a late settle still adds spend.
local function expire_reservation(rkey, retention)
  local r = fields(rkey)
  if r.state ~= 'active' then return end
  for j = 1, tonumber(r.nb or '0') do
    local ckey = r['b' .. j]
    if redis.call('EXISTS', ckey) == 1 then
      local reserved = big_sub0(big(redis.call('HGET', ckey, 'reserved')), big(r['a' .. j]))
      redis.call('HSET', ckey, 'reserved', big_str(reserved))
    end
  end
  for i = 1, tonumber(r.nr or '0') do
    local rk = r['r' .. i]
    if string.find(r['f' .. i] or '', 'c', 1, true) and redis.call('EXISTS', rk) == 1 then
      local inflight = tonumber(redis.call('HGET', rk, 'inflight') or '0')
      redis.call('HSET', rk, 'inflight', int(math.max(0, inflight - 1)))
    end
  end
  redis.call('HSET', rkey, 'state', 'expired')
  redis.call('PEXPIRE', rkey, int(retention))
end

-- Releases up to `limit` reservations whose expiry has passed (members are record keys).
local function sweep(exp_key, now, limit, retention)
  local due = redis.call('ZRANGEBYSCORE', exp_key, '-inf', int(now), 'LIMIT', 0, limit)
  for _, rkey in ipairs(due) do
    redis.call('ZREM', exp_key, rkey)
    expire_reservation(rkey, retention)
  end
end

-- One budget counter as 11 reply fields (see BudgetsScript::parse).
local function snapshot(out, ckey)
  local c = fields(ckey)
  local row = {ckey, c.name or '', c.scope or '', c.subject or '', c.period or '',
               c.start or '0', c['end'] or '0', c.limit or '0', c.spent or '0',
               c.reserved or '0', c.mode or 'hard'}
  for _, v in ipairs(row) do out[#out + 1] = v end
end
-- END common

local now = clock(ARGV[1])
local exp_key, index_key = KEYS[1], KEYS[2]

sweep(exp_key, now, tonumber(ARGV[3]), tonumber(ARGV[2]))

-- Periods that ended leave the index (their counters expire on their own TTL).
redis.call('ZREMRANGEBYSCORE', index_key, '-inf', int(now))
local out = {}
for _, ckey in ipairs(redis.call('ZRANGEBYSCORE', index_key, '(' .. int(now), '+inf')) do
  local start = redis.call('HGET', ckey, 'start')
  if not start then
    redis.call('ZREM', index_key, ckey)
  elseif tonumber(start) <= now then
    snapshot(out, ckey)
  end
end
return out
