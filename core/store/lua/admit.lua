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
-- Reply: {'allowed', rq1, tk1, ...} (GCRA levels after the charge)
--      | {'duplicate'} (this id is still active: nothing charged again)
--      | {'reused'} (this id was settled or expired)
--      | {'estop', field, value, ...} (the emergency-stop hash)
--      | {'rate', index, 'requests'|'tokens'|'concurrent', wait ms (-1 never), rq1, tk1, ...}
--      | {'budget', index, spent, reserved}
-- Batch: ARGV[1] == '*' admits several requests in one call, one after another, each exactly as
-- its own call would (see run below); the reply is the array of their replies.
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

-- What one script call has learned so far. A batch (run below) handles several requests one after
-- another in one call, and nothing else runs in Redis in between, so these facts stay true for
-- the next request of the same call; they only save commands, never change a result.
local memo = {
  clean_until = nil,  -- every rsv:exp member scored <= this has been released
  ttl = {},           -- key -> TTL (ms) the key is known to have at least
  estop = nil,        -- the emergency-stop hash (no script writes it)
  indexed = {},       -- budget counter -> period end it is indexed with in this call
}

-- A field value as Redis stores it: text as is, a number as an integer, money {hi, lo} in decimal.
local function text(v, default)
  if v == nil or v == false then return default end
  if type(v) == 'table' then return big_str(v) end
  if type(v) == 'number' then return int(v) end
  return v
end

-- One budget counter as 11 reply fields (see BudgetsScript::parse); `c` = its fields if known.
local function snapshot(out, ckey, c)
  c = c or fields(ckey)
  local row = {ckey, text(c.name, ''), text(c.scope, ''), text(c.subject, ''),
               text(c.period, ''), text(c.start, '0'), text(c['end'], '0'), text(c.limit, '0'),
               text(c.spent, '0'), text(c.reserved, '0'), text(c.mode, 'hard')}
  for _, v in ipairs(row) do out[#out + 1] = v end
end

-- Like keep, but remembers what it learned, and extends by a minute more than asked so that the
-- next calls within that minute find the TTL long enough with one PTTL.
local KEEP_SLACK = 60000
local function keep_for(key, ttl)
  if ttl <= 0 then return end
  local known = memo.ttl[key]
  if known and known >= ttl then return end
  local current = redis.call('PTTL', key)
  if current == -2 then return end  -- no such key
  if current < ttl then  -- also -1: no TTL yet
    current = ttl + KEEP_SLACK
    redis.call('PEXPIRE', key, int(current))
  end
  memo.ttl[key] = current - 1000  -- a margin for the time the call itself takes
end

-- Counter hashes (budget counters, rate-limit buckets) cached for one script call: read once,
-- computed on in Lua, written once by flush(). cached(key, names) reads the fields `names` (each
-- script always asks for the same ones per kind of key) the first time and returns
-- {f = fields (text as Redis holds it, or a number / money {hi, lo} once computed on),
-- dirty = whether to write back, writes = the fields to write back (`names` unless told
-- otherwise), exists = whether the hash exists}. Every counter hash has the fields
-- read first (spent and reserved; rq, tk, last and inflight), so they tell whether it exists.
-- expire_reservation works on Redis directly, so flush() runs before it.
local BUDGET_LEVELS = {'spent', 'reserved'}
local BUDGET_ROW = {'spent', 'reserved', 'name', 'scope', 'subject', 'period', 'start', 'end',
                    'limit', 'mode'}
local BUDGET_ADMIT = {'spent', 'reserved', 'limit', 'mode'}
local RATE_LEVELS = {'rq', 'tk', 'last', 'inflight'}
local RATE_ALL = {'rq', 'tk', 'last', 'inflight', 'rpm', 'tpm'}
local cache = {}
local function cached(key, names, writes)
  local c = cache[key]
  if c then return c end
  local values = redis.call('HMGET', key, unpack(names))
  local f = {}
  for i = 1, #names do
    if values[i] then f[names[i]] = values[i] end
  end
  c = {f = f, dirty = false, writes = writes or names,
       exists = values[1] ~= false or values[2] ~= false}
  cache[key] = c
  return c
end

local function set_cached(c, field, value)
  c.f[field] = value
  c.dirty = true
  c.exists = true
end

local function num(v)
  if type(v) == 'number' then return v end
  return tonumber(v or '0')
end

local function money(v)
  if type(v) == 'table' then return v end
  return big(v)
end

-- TTLs for cached counters, applied by flush() once the hashes exist: key -> ms (keep_for).
local wanted_ttl = {}
local function want_ttl(key, ttl)
  if not wanted_ttl[key] or wanted_ttl[key] < ttl then wanted_ttl[key] = ttl end
end

-- Writes what the cache changed, then the TTLs asked for; the cache starts empty again.
local function flush()
  for key, c in pairs(cache) do
    if c.dirty then
      local args, n, f = {}, 0, c.f
      for _, field in ipairs(c.writes) do
        local value = f[field]
        if value ~= nil then
          args[n + 1] = field
          args[n + 2] = text(value, '')
          n = n + 2
        end
      end
      redis.call('HSET', key, unpack(args))
    end
  end
  cache = {}
  for key, ttl in pairs(wanted_ttl) do keep_for(key, ttl) end
  wanted_ttl = {}
end

-- Releases up to `limit` reservations whose expiry has passed (members are record keys).
local function sweep(exp_key, now, limit, retention)
  if memo.clean_until and now <= memo.clean_until then return end
  local due = redis.call('ZRANGEBYSCORE', exp_key, '-inf', int(now), 'LIMIT', 0, limit)
  if #due > 0 then flush() end
  for _, rkey in ipairs(due) do
    redis.call('ZREM', exp_key, rkey)
    expire_reservation(rkey, retention)
  end
  if #due < limit then memo.clean_until = now end
end

-- Indexes reservation `rkey` in the expiry zset at `at` ms.
local function index_expiry(exp_key, rkey, at)
  redis.call('ZADD', exp_key, int(at), rkey)
  if memo.clean_until and at <= memo.clean_until then memo.clean_until = at - 1 end
end

-- ARGV[1] == '*' is a batch: ARGV = {'*', n, then per request: #keys, #args, its args...} and
-- KEYS = every request's keys in order. Each request runs `one(keys, args)` in turn, exactly as a
-- call of its own would (a failing one answers its error and the others go on); the reply is
-- the array of their replies. Anything else is one request: one(KEYS, ARGV). Either way the
-- cached counters are written at the end.
local function run(one)
  if ARGV[1] ~= '*' then
    local reply = one(KEYS, ARGV)
    flush()
    return reply
  end
  local out, k, a = {}, 0, 3
  for i = 1, tonumber(ARGV[2]) do
    local nk, na = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
    local keys, args = {}, {}
    for j = 1, nk do keys[j] = KEYS[k + j] end
    for j = 1, na do args[j] = ARGV[a + 1 + j] end
    k, a = k + nk, a + 2 + na
    local ok, reply = pcall(one, keys, args)
    if not ok then
      local message = type(reply) == 'table' and reply.err or tostring(reply)
      reply = {err = (string.gsub(tostring(message), '[\r\n]', ' '))}
    end
    out[i] = reply
  end
  flush()
  return out
end
-- END common

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
    r.rq = drain(num(h.rq), now - r.last, r.rpm)
    r.tk = drain(num(h.tk), now - r.last, r.tpm)
    r.inflight = num(h.inflight)
    rates[i] = r
    local function consider(kind, wait)
      if wait == 0 then return end
      if not worst or rank(wait) > rank(worst_wait) then
        worst, worst_kind, worst_wait = i, kind, wait
      end
    end
    if r.rpm > 0 then consider('requests', wait_ms(r.rq, 1, r.rpm)) end
    if r.tpm > 0 and r.tokens > 0 then consider('tokens', wait_ms(r.tk, r.tokens, r.tpm)) end
    if r.conc > 0 and r.inflight >= r.conc then consider('concurrent', 1000) end
  end
  if worst then
    local out = {'rate', worst, worst_kind, worst_wait}
    for i = 1, nr do
      out[#out + 1] = rates[i].rq
      out[#out + 1] = rates[i].tk
    end
    return out
  end

  -- 3. Hard budgets: spent + reserved + worst case <= limit, first refusal in config order.
  local budgets = {}
  for j = 1, nb do
    local a = BUDGET_ARGS + (j - 1) * 9
    local b = {key = KEYS[4 + nr + j], limit = ARGV[a + 1], amount = big(ARGV[a + 2]),
               hard = ARGV[a + 3] == '1', start = ARGV[a + 4], finish = ARGV[a + 5],
               name = ARGV[a + 6], scope = ARGV[a + 7], subject = ARGV[a + 8],
               period = ARGV[a + 9]}
    budgets[j] = b
    if b.hard then
      local h = cached(b.key, BUDGET_LEVELS, BUDGET_ADMIT).f
      local spent, reserved = money(h.spent), money(h.reserved)
      if big_gt(big_add(big_add(spent, reserved), b.amount), big(b.limit)) then
        return {'budget', j, big_str(spent), big_str(reserved)}
      end
    end
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
    set_cached(c, 'last', math.max(r.last, now))
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
