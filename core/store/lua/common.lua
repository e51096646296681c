-- BEGIN common (core/store/lua/common.lua: the build splices it into admit, settle, budgets and
-- reconcile.lua where each says `--#include common.lua`, so every script stands alone in Redis)
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

-- As gcra::drainsFrom / nextLast / stalledMs (gcra::kClockStepBackMs is WINDOW).
local function drains_from(last, now)
  if last - now > WINDOW then return now end
  return last
end

local function next_last(last, now)
  return math.max(drains_from(last, now), now)
end

local function stalled_ms(last, now)
  return math.max(0, drains_from(last, now) - now)
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

local ZERO = {0, 0}

-- Redis keeps what a script wrote before it failed (no rollback), and a marker or sequence number
-- written first would make the retry change nothing. So every script checks the type of each key
-- it will write before its first write: a key of another type fails the call with nothing
-- changed. `list` = {key, type, key, type, ...}; a missing key passes. Checked once per call.
local typed = {}
-- @return nil when every key of `list` is missing or of its type, else what is wrong
local function wrong_type(list)
  for i = 1, #list, 2 do
    local key, want = list[i], list[i + 1]
    if typed[key] ~= want then
      local t = redis.call('TYPE', key)
      t = type(t) == 'table' and t.ok or t
      if t ~= 'none' and t ~= want then return key .. ' holds a ' .. t .. ', not a ' .. want end
      typed[key] = want
    end
  end
  return nil
end
local function check_types(list)
  local wrong = wrong_type(list)
  if wrong then error({err = 'WRONGTYPE spendgate: ' .. wrong}) end
end

-- The keys a reservation record `r` (its fields) points at: budget counters, rate buckets.
local function record_keys(r, list)
  for j = 1, tonumber(r.nb or '0') do
    list[#list + 1], list[#list + 2] = r['b' .. j], 'hash'
  end
  for i = 1, tonumber(r.nr or '0') do
    list[#list + 1], list[#list + 2] = r['r' .. i], 'hash'
  end
  return list
end

-- Ends an active reservation: its reserved amounts and concurrency slots stop counting. The
-- record stays (state expired) for `retention` ms so that a late settle still adds spend.
-- `charge` (it expired unsettled, e.g. its instance crashed): the request may have been billed, so
-- its worst case moves from reserved to spent on every hard budget, and into `lapsed` (charged
-- without a known cost), until a late settle replaces it with the real cost (record: chg = 1).
-- Without `charge` (reconcile: the request was counted locally) it is only released.
-- `skip_wrong` (the sweep): a counter another writer gave another type is left out, logged,
-- instead of failing the call (else: check_types).
local function expire_reservation(rkey, retention, charge, skip_wrong)
  local r = fields(rkey)
  if r.state ~= 'active' then return end
  local skip = {}
  local keys = record_keys(r, {})
  if skip_wrong then
    for i = 1, #keys, 2 do
      local wrong = wrong_type({keys[i], keys[i + 1]})
      if wrong then
        skip[keys[i]] = true
        redis.log(redis.LOG_WARNING, 'spendgate: reservation ' .. rkey .. ' expires without ' ..
                  keys[i] .. ' (' .. wrong .. ')')
      end
    end
  else
    check_types(keys)
  end
  local charged = ZERO
  for j = 1, tonumber(r.nb or '0') do
    local ckey = r['b' .. j]
    if not skip[ckey] and redis.call('EXISTS', ckey) == 1 then
      local amount = big(r['a' .. j])
      local h = redis.call('HMGET', ckey, 'reserved', 'spent', 'lapsed')
      local args = {'reserved', big_str(big_sub0(big(h[1]), amount))}
      if charge and big_gt(amount, ZERO) then
        args[3], args[4] = 'spent', big_str(big_add(big(h[2]), amount))
        args[5], args[6] = 'lapsed', big_str(big_add(big(h[3]), amount))
        charged = big_add(charged, amount)
      end
      redis.call('HSET', ckey, unpack(args))
    end
  end
  for i = 1, tonumber(r.nr or '0') do
    local rk = r['r' .. i]
    if not skip[rk] and string.find(r['f' .. i] or '', 'c', 1, true) and
        redis.call('EXISTS', rk) == 1 then
      local inflight = tonumber(redis.call('HGET', rk, 'inflight') or '0')
      redis.call('HSET', rk, 'inflight', int(math.max(0, inflight - 1)))
    end
  end
  redis.call('HSET', rkey, 'state', 'expired', 'chg', charge and '1' or '0')
  redis.call('PEXPIRE', rkey, int(retention))
  if big_gt(charged, ZERO) then
    redis.log(redis.LOG_WARNING, 'spendgate: reservation ' .. rkey .. ' expired unsettled; ' ..
              big_str(charged) .. ' picodollars charged as spent (lapsed)')
  end
end

-- Leased slices (lease.lua, docs/store.md "Leased slices"): a hard budget counter may hold
-- amounts leased to instances: `leased` (their total, counted like reserved at admission),
-- `lexp` (the earliest lease expiry in ms, a hint), `reclaim` (ms until which holders give their
-- unused part back) and per instance `L:<id>` (its lease) and `X:<id>` (its expiry in ms).
local RECLAIM_MS = 2000

-- Ends the leases of counter `key` whose holder stopped renewing them (it crashed, or Redis did
-- not hear from it for the ttl). Its slice is CHARGED as spent, not released: the holder may have
-- used all of it and its last spend never arrived. The charge is noted per holder (`C:<id>`) and
-- in `lapsed`; a holder that comes back corrects it (lease.lua), a dead one never does.
-- Works on Redis directly: flush() the cache first.
local function expire_leases(key, now)
  local lexp = redis.call('HGET', key, 'lexp')
  if not lexp or lexp == '' or tonumber(lexp) > now then return end
  local flat = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  local leased, spent, lapsed, next_exp = big(h.leased), big(h.spent), big(h.lapsed), nil
  for f, v in pairs(h) do
    if string.sub(f, 1, 2) == 'X:' then
      local holder, x = string.sub(f, 3), tonumber(v)
      if x <= now then
        local slice = big(h['L:' .. holder])
        leased = big_sub0(leased, slice)
        spent, lapsed = big_add(spent, slice), big_add(lapsed, slice)
        redis.call('HDEL', key, 'L:' .. holder, 'X:' .. holder)
        if big_gt(slice, ZERO) then
          redis.call('HSET', key, 'C:' .. holder, big_str(big_add(big(h['C:' .. holder]), slice)))
          redis.log(redis.LOG_WARNING, 'spendgate: lease of ' .. holder .. ' on ' .. key ..
                    ' lapsed; ' .. big_str(slice) .. ' picodollars charged as spent (lapsed)')
        end
      elseif not next_exp or x < next_exp then
        next_exp = x
      end
    end
  end
  redis.call('HSET', key, 'leased', big_str(leased), 'spent', big_str(spent), 'lapsed',
             big_str(lapsed), 'lexp', next_exp and int(next_exp) or '')
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

-- One budget counter as 12 reply fields (see BudgetsScript::parse); `c` = its fields if known.
local function snapshot(out, ckey, c)
  c = c or fields(ckey)
  local row = {ckey, text(c.name, ''), text(c.scope, ''), text(c.subject, ''),
               text(c.period, ''), text(c.start, '0'), text(c['end'], '0'), text(c.limit, '0'),
               text(c.spent, '0'), text(c.reserved, '0'), text(c.mode, 'hard'),
               text(c.leased, '0')}
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
                    'limit', 'mode', 'leased', 'lapsed'}
local BUDGET_SETTLE = {'spent', 'reserved', 'lapsed'}
local BUDGET_ADMIT = {'spent', 'reserved', 'limit', 'mode'}
local BUDGET_CHECK = {'spent', 'reserved', 'leased', 'lexp'}
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
    -- Never fail here on a key another writer gave another type: the record would stay due and
    -- fail every later call of every caller. Its other counters expire; the record leaves the
    -- index either way (logged).
    local wrong = wrong_type({rkey, 'hash'})
    if wrong then
      redis.log(redis.LOG_WARNING, 'spendgate: reservation ' .. rkey .. ' cannot expire (' ..
                wrong .. '); dropped from the expiry index')
    else
      expire_reservation(rkey, retention, true, true)
    end
    redis.call('ZREM', exp_key, rkey)
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
