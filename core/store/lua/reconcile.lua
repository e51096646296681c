-- spendgate reconcile: adds the real cost of a request that this instance admitted and settled in
-- its LOCAL store while Redis was unavailable (store.redis.on_unavailable: fail_open), exactly once.
-- Build the call with core::ReconcileScript::call and read the reply with ReconcileScript::parse.
--
-- Idempotent per reservation id: the first call sets the marker KEYS[1] (SET NX, ARGV[2] ms) and
-- adds; any later call for the same id (a retry after a lost reply, a second pass) finds the
-- marker and adds nothing. Spent is added with the same exact {hi, lo} arithmetic as settle.lua,
-- to every budget counter the request was charged to (hard and soft; in the period it was
-- admitted in) and to the global spend counter. Rate limits are not replayed: they are about the
-- last minute, which the local store already limited. If the shared store had recorded an
-- admission for this id (its reply was lost, so the request went to the local store), that
-- reservation is released and marked settled, so the request is not counted twice; if it had
-- expired and been charged its worst case (common.lua), that charge is taken back.
--
-- KEYS: 1 marker 'reconciled:<id>', 2 reservation expiry zset, 3 the id's reservation hash,
--       4 budget index zset, then nb budget counter hashes, then the global spend counter when
--       ARGV[6] == '1'.
-- ARGV: 1 now ms ('' = Redis TIME), 2 marker lifetime ms, 3 record retention ms,
--       4 actual cost (decimal picodollars), 5 nb, 6 spend flag, 7 spend counter keep-until ms,
--       then per budget (8): limit, hard (1|0), start ms, end ms, name, scope, subject, period.
-- Reply: {'added', spend total or '', then 12 fields per budget counter (see snapshot)}
--      | {'already'} (this id was reconciled before: nothing changed)
--#include common.lua

local now = clock(ARGV[1])
local marker_ttl = tonumber(ARGV[2])
local retention = tonumber(ARGV[3])
local actual = big(ARGV[4])
local nb = tonumber(ARGV[5])
local has_spend = ARGV[6] == '1'
local spend_keep = tonumber(ARGV[7])
local marker, exp_key, rsv_key, index_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local BUDGET_ARGS = 7

-- Every key written below is checked before the marker: a failure after it would lose the cost.
local written = {marker, 'string', exp_key, 'zset', rsv_key, 'hash', index_key, 'zset'}
for j = 1, nb do written[#written + 1], written[#written + 2] = KEYS[4 + j], 'hash' end
if has_spend then written[#written + 1], written[#written + 2] = KEYS[5 + nb], 'string' end
local state = redis.call('HGET', rsv_key, 'state')
if state == 'active' or state == 'expired' then record_keys(fields(rsv_key), written) end
check_types(written)

if not redis.call('SET', marker, '1', 'NX', 'PX', int(marker_ttl)) then return {'already'} end

-- A shared reservation for the same id (admit's reply was lost): release it, and mark it settled
-- so that a settle through the shared store could not count the cost a second time.
if state == 'active' then
  redis.call('ZREM', exp_key, rsv_key)
  expire_reservation(rsv_key, retention, false)
elseif state == 'expired' then
  -- It expired first and was charged its worst case (common.lua): the real cost added below
  -- replaces that charge.
  local r = fields(rsv_key)
  for j = 1, tonumber(r.nb or '0') do
    local ckey, amount = r['b' .. j], big(r['a' .. j])
    if r.chg == '1' and big_gt(amount, ZERO) and redis.call('EXISTS', ckey) == 1 then
      local h = redis.call('HMGET', ckey, 'spent', 'lapsed')
      redis.call('HSET', ckey, 'spent', big_str(big_sub0(big(h[1]), amount)), 'lapsed',
                 big_str(big_sub0(big(h[2]), amount)))
    end
  end
end
if state == 'active' or state == 'expired' then redis.call('HSET', rsv_key, 'state', 'settled') end

local out = {'added', ''}
for j = 1, nb do
  local a = BUDGET_ARGS + (j - 1) * 8
  local key, finish = KEYS[4 + j], tonumber(ARGV[a + 4])
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'spent', '0', 'reserved', '0', 'limit', ARGV[a + 1], 'mode',
               ARGV[a + 2] == '1' and 'hard' or 'soft', 'name', ARGV[a + 5], 'scope', ARGV[a + 6],
               'subject', ARGV[a + 7], 'period', ARGV[a + 8], 'start', ARGV[a + 3], 'end',
               ARGV[a + 4])
  end
  redis.call('ZADD', index_key, ARGV[a + 4], key)
  local spent = big_add(big(redis.call('HGET', key, 'spent')), actual)
  redis.call('HSET', key, 'spent', big_str(spent))
  keep(key, math.max(finish, now) + WINDOW - now)
  snapshot(out, key)
end
if has_spend then
  local skey = KEYS[5 + nb]
  local total = big_add(big(redis.call('GET', skey)), actual)
  redis.call('SET', skey, big_str(total))
  keep(skey, math.max(spend_keep - now, WINDOW))
  out[2] = big_str(total)
end
return out
