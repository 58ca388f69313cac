"""The ledger's Lua scripts: one per operation, each handling one or many keys.

Layout shared by all: ``ARGV[1]`` is a clock override in ms (empty in
production, where the server's ``TIME`` is the only clock, so workers with
skewed clocks agree), ``ARGV[2]`` the retention in ms, then the script's shared
arguments, then its per-key ones. A shared argument left empty is given per key
instead; sending it once when a batch agrees (one worker, one lease) halves the
arguments the client has to encode, which is where its time goes.

Every key is one call_id; a key is a hash while leased (``tok``, ``own``,
``exp``, ``fp``: the fingerprint of the execution) and becomes the record string
once completed.
Numbers go through ``fmt`` because Lua would print 1.7e12 in exponent form.
"""

from __future__ import annotations

_PRELUDE = """
local function fmt(n) return string.format('%.0f', n) end
local now
if ARGV[1] ~= '' then now = tonumber(ARGV[1]) else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local retention = tonumber(ARGV[2])
local out = {}
local function kind_of(key)
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'hash' and kind ~= 'string' and kind ~= 'none' then
    error('LEDGER_WRONGTYPE ' .. key .. ' is a ' .. kind)
  end
  return kind
end
local function token_in(record, key)
  local sep = string.find(record, ':', 2, true)
  if not sep then error('LEDGER_WRONGTYPE ' .. key .. ' is not a record') end
  return tonumber(string.sub(record, 2, sep - 1))
end
"""

# shared: worker_id, lease_ms (or per key, both); per key: fingerprint
# -> {0, token, takeover_from|nil} | {1, record} | {2, owner, left_ms} | {3} (conflict)
# The hash is read without asking its TYPE first: a key that is not one (a record,
# or something foreign) fails HMGET, and only then is its type looked up. Numbers a
# batch shares are formatted once: every key never leased before gets ``now``.
# A hash whose fingerprint is not the claim's is a conflict, live or not; a record's
# fingerprint is compared by the caller (it is in the record's header).
CLAIM = _PRELUDE + """
local worker, lease = ARGV[3], tonumber(ARGV[4])
local each = worker == ''
local now_s = fmt(now)
local exp_s, keep_s
if not each then exp_s, keep_s = fmt(now + lease), fmt(math.max(retention, lease)) end
for i, key in ipairs(KEYS) do
  local fp
  if each then
    worker, lease, fp = ARGV[2 + 3 * i], tonumber(ARGV[3 + 3 * i]), ARGV[4 + 3 * i]
    exp_s, keep_s = fmt(now + lease), fmt(math.max(retention, lease))
  else
    fp = ARGV[4 + i]
  end
  local f = redis.pcall('HMGET', key, 'tok', 'own', 'exp', 'fp')
  if f['err'] then
    if kind_of(key) == 'string' then out[i] = {1, redis.call('GET', key)} end
  elseif f[1] and (f[4] or '') ~= fp then
    out[i] = {3}
  else
    local tok, owner, exp = tonumber(f[1]) or 0, f[2], tonumber(f[3]) or 0
    if exp > now then
      out[i] = {2, owner, exp - now}
    else
      local token = math.max(tok + 1, now)
      local token_s = now_s
      if token ~= now then token_s = fmt(token) end
      redis.call('HSET', key, 'tok', token_s, 'own', worker, 'exp', exp_s, 'fp', fp)
      redis.call('PEXPIRE', key, keep_s)
      if owner == '' then owner = false end
      out[i] = {0, token_s, owner}
    end
  end
end
return out
"""

# shared: lease_ms (or per key); per key: token -> 1 renewed | 0 token no longer current
RENEW = _PRELUDE + """
local lease = tonumber(ARGV[3])
local each = ARGV[3] == ''
for i, key in ipairs(KEYS) do
  local token
  if each then token, lease = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  else token = tonumber(ARGV[3 + i]) end
  out[i] = 0
  if kind_of(key) == 'hash' and tonumber(redis.call('HGET', key, 'tok')) == token then
    redis.call('HSET', key, 'exp', fmt(now + lease))
    redis.call('PEXPIRE', key, fmt(math.max(retention, lease)))
    out[i] = 1
  end
end
return out
"""

# per key: record (it starts with its token)
# -> 1 recorded (now or by an earlier call with this token) | 0
# As in CLAIM, a key that is not a hash is found out by HGET failing.
COMPLETE = _PRELUDE + """
local keep_s = fmt(retention)
for i, key in ipairs(KEYS) do
  local record = ARGV[2 + i]
  local token = token_in(record, key)
  local current = redis.pcall('HGET', key, 'tok')
  out[i] = 0
  if type(current) == 'table' and current['err'] then
    if kind_of(key) == 'string' and token_in(redis.call('GETRANGE', key, 0, 24), key) == token then
      out[i] = 1
    end
  elseif tonumber(current) == token then
    redis.call('SET', key, record, 'PX', keep_s)
    out[i] = 1
  end
end
return out
"""

# per key: token -> 1 released (the next claim is a clean start) | 0
RELEASE = _PRELUDE + """
for i, key in ipairs(KEYS) do
  local token = tonumber(ARGV[2 + i])
  out[i] = 0
  if kind_of(key) == 'hash' and tonumber(redis.call('HGET', key, 'tok')) == token then
    redis.call('HSET', key, 'own', '', 'exp', '0')
    out[i] = 1
  end
end
return out
"""

# no per-key arguments -> record | nil
LOOKUP = _PRELUDE + """
for i, key in ipairs(KEYS) do
  if kind_of(key) == 'string' then out[i] = redis.call('GET', key) else out[i] = false end
end
return out
"""
