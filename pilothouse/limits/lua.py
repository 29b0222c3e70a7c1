"""The Redis scripts. Each runs atomically on the server (no other command interleaves), reads the
clock with ``TIME`` so every gateway process shares one clock, and works in integer microseconds.

Per subject (``key:alice``...) four keys: ``:req`` a sorted set of admitted requests scored by time
(the RPM log), ``:tok`` the same for token reservations (the TPM log) with ``:amt`` a hash of each
reservation's tokens plus their running sum in field ``_sum``, and ``:lease`` a sorted set of
in-flight leases scored by their expiry (a crashed process's leases expire; live ones are refreshed).
Budget counters are plain integers of nano-USD (INCRBY).

Numbers go to ``redis.call`` as Lua numbers (Redis formats them exactly) and never through ``..``,
which would round to 14 digits.
"""

from __future__ import annotations

_HELPERS = """
local function prune_tokens(tk, hk, cutoff)
  local old = redis.call('ZRANGEBYSCORE', tk, '-inf', cutoff)
  if #old == 0 then return end
  local freed = 0
  for i = 1, #old, 1000 do
    local last = math.min(i + 999, #old)
    local vals = redis.call('HMGET', hk, unpack(old, i, last))
    for j = 1, #vals do freed = freed + (tonumber(vals[j]) or 0) end
    redis.call('HDEL', hk, unpack(old, i, last))
  end
  redis.call('HINCRBY', hk, '_sum', -freed)
  redis.call('ZREMRANGEBYSCORE', tk, '-inf', cutoff)
end

-- microseconds until entries holding at least `need` tokens have left the window
local function tokens_free_in(tk, hk, need, now, window)
  local freed = 0
  local start = 0
  while true do
    local batch = redis.call('ZRANGE', tk, start, start + 255, 'WITHSCORES')
    if #batch == 0 then return window end
    local members = {}
    for i = 1, #batch, 2 do members[#members + 1] = batch[i] end
    local vals = redis.call('HMGET', hk, unpack(members))
    for i = 1, #members do
      freed = freed + (tonumber(vals[i]) or 0)
      if freed >= need then return tonumber(batch[i * 2]) + window - now end
    end
    start = start + 256
  end
end

local function oldest(key)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #first == 0 then return nil end
  return tonumber(first[2])
end
"""

# KEYS: nb budget counters, then per check: req, tok, amt, lease.
# ARGV: lease id, window_us, lease_ttl_us, tokens, nb, nb budget limits, then rpm, tpm, concurrency per check.
# Reply: admitted, denial, denied index (1-based), retry_us, nb spent values, then per check
# (unless a budget refused): requests used, requests reset_us, tokens used, tokens reset_us.
ACQUIRE = (
    _HELPERS
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local lease = ARGV[1]
local window = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
local nb = tonumber(ARGV[5])
local cutoff = now - window
local window_ms = math.floor(window / 1000) + 1
local ttl_ms = math.floor(ttl / 1000) + 1

local out = {0, 0, 0, 0}
for b = 1, nb do out[4 + b] = tonumber(redis.call('GET', KEYS[b]) or '0') end
for b = 1, nb do
  if out[4 + b] >= tonumber(ARGV[5 + b]) then
    out[2] = 5
    out[3] = b
    return out
  end
end

local nc = (#KEYS - nb) / 4
local denial, denied, retry = 0, 0, 0
local rused, rold, tsum, told = {}, {}, {}, {}
for c = 1, nc do
  local k = nb + (c - 1) * 4
  local rk, tk, hk, ck = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local a = 5 + nb + (c - 1) * 3
  local rpm, tpm, conc = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local why = 0
  rused[c], tsum[c] = 0, 0
  if rpm > 0 then
    redis.call('ZREMRANGEBYSCORE', rk, '-inf', cutoff)
    local used = redis.call('ZCARD', rk)
    rused[c], rold[c] = used, oldest(rk)
    if used >= rpm then
      why = 1
      local nth = redis.call('ZRANGE', rk, used - rpm, used - rpm, 'WITHSCORES')
      retry = math.max(retry, tonumber(nth[2]) + window - now)
    end
  end
  if tpm > 0 then
    prune_tokens(tk, hk, cutoff)
    local sum = tonumber(redis.call('HGET', hk, '_sum') or '0')
    tsum[c], told[c] = sum, oldest(tk)
    if tokens > tpm then
      why = 4
    elseif sum + tokens > tpm then
      if why == 0 then why = 2 end
      retry = math.max(retry, tokens_free_in(tk, hk, sum + tokens - tpm, now, window))
    end
  end
  if conc > 0 then
    redis.call('ZREMRANGEBYSCORE', ck, '-inf', now)
    if redis.call('ZCARD', ck) >= conc then
      if why == 0 then why = 3 end
      retry = math.max(retry, 1000000)
    end
  end
  if why > 0 and denial == 0 then
    denial, denied = why, c
  end
end

if denial == 0 then
  for c = 1, nc do
    local k = nb + (c - 1) * 4
    local rk, tk, hk, ck = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
    local a = 5 + nb + (c - 1) * 3
    if tonumber(ARGV[a + 1]) > 0 then
      redis.call('ZADD', rk, now, lease)
      redis.call('PEXPIRE', rk, window_ms)
      rused[c] = rused[c] + 1
      rold[c] = rold[c] or now
    end
    if tonumber(ARGV[a + 2]) > 0 then
      redis.call('ZADD', tk, now, lease)
      redis.call('HSET', hk, lease, tokens)
      redis.call('HINCRBY', hk, '_sum', tokens)
      redis.call('PEXPIRE', tk, window_ms)
      redis.call('PEXPIRE', hk, window_ms)
      tsum[c] = tsum[c] + tokens
      told[c] = told[c] or now
    end
    if tonumber(ARGV[a + 3]) > 0 then
      redis.call('ZADD', ck, now + ttl, lease)
      redis.call('PEXPIRE', ck, ttl_ms)
    end
  end
  out[1] = 1
end
out[2], out[3], out[4] = denial, denied, math.floor(retry)
for c = 1, nc do
  local n = #out
  out[n + 1] = rused[c]
  out[n + 2] = rold[c] and math.floor(rold[c] + window - now) or 0
  out[n + 3] = tsum[c]
  out[n + 4] = told[c] and math.floor(told[c] + window - now) or 0
end
return out
"""
)

# KEYS: nb budget counters, then per check: tok, amt, lease.
# ARGV: lease id, window_us, nb, cost nano-USD, reserved tokens, actual tokens (-1: keep the
# reservation), nb expiry times (unix ms), then a TPM flag and a concurrency flag per check.
# Reply: the budgets' spend after adding the cost.
SETTLE = """
local lease = ARGV[1]
local window = tonumber(ARGV[2])
local nb = tonumber(ARGV[3])
local reserved = tonumber(ARGV[5])
local actual = tonumber(ARGV[6])
local window_ms = math.floor(window / 1000) + 1
local out = {}
for b = 1, nb do
  if ARGV[4] ~= '0' then
    out[b] = redis.call('INCRBY', KEYS[b], ARGV[4])
    redis.call('PEXPIREAT', KEYS[b], ARGV[6 + b])
  else
    out[b] = tonumber(redis.call('GET', KEYS[b]) or '0')
  end
end
local nc = (#KEYS - nb) / 3
for c = 1, nc do
  local k = nb + (c - 1) * 3
  local tk, hk, ck = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local a = 6 + nb + (c - 1) * 2
  if ARGV[a + 1] == '1' and actual >= 0 then
    local held = redis.call('HGET', hk, lease)
    if held then
      redis.call('HSET', hk, lease, actual)
      redis.call('HINCRBY', hk, '_sum', actual - tonumber(held))
    elseif actual > reserved then
      -- the reservation already left the window: log the excess as new usage
      local t = redis.call('TIME')
      local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
      local late = lease .. ':late'
      redis.call('ZADD', tk, now, late)
      redis.call('HSET', hk, late, actual - reserved)
      redis.call('HINCRBY', hk, '_sum', actual - reserved)
      redis.call('PEXPIRE', tk, window_ms)
      redis.call('PEXPIRE', hk, window_ms)
    end
  end
  if ARGV[a + 2] == '1' then
    redis.call('ZREM', ck, lease)
  end
end
return out
"""

# KEYS: lease sets; ARGV: lease_ttl_us, then the lease id held in each set. Only leases still
# present are extended (XX): one that already expired may have been given to another request.
REFRESH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ttl = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], math.floor(ttl / 1000) + 1)
end
return #KEYS
"""
