-- spendgate budgets: every budget counter whose period contains now, for the admin API
-- (CounterStore::budgets). Releases expired reservations first so `reserved` is current.
-- Build the call with core::BudgetsScript::call and read the reply with BudgetsScript::parse.
--
-- KEYS: 1 reservation expiry zset, 2 budget index zset.
-- ARGV: 1 now ms ('' = Redis TIME), 2 record retention ms, 3 sweep limit.
-- Reply: 12 fields per counter (see snapshot), unsorted.
--#include common.lua

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
