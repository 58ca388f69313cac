"""The Lua scripts: one round trip decides a whole batch, all or nothing per call.

``DECIDE``: KEYS are every key of the batch; ARGV[1] is "" (read ``TIME``) or a
clock in µs (tests only); ARGV[2] is JSON
``[releases, renewals, params, decisions]`` where releases are flat
``key, lease`` pairs, renewals flat ``key, lease`` pairs, params four numbers per
key (kind, interval_us, capacity, poll_us) and each decision
``[lease, key, cost, key, cost, ...]`` (1-based key indexes). It answers
``status, retry_after_us, limiting`` per decision. State of a key is read at
most once and written at most once per batch. Mirrors :mod:`.local` exactly.
Keys outlive their state by a second, so a test clock that runs ahead of real
time never sees state vanish early.
"""

from __future__ import annotations

__all__ = ["DECIDE", "PEEK"]

DECIDE = """
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local batch = cjson.decode(ARGV[2])
local rel, ren, kp, dec = batch[1], batch[2], batch[3], batch[4]
local kind, iv, cap, poll = {}, {}, {}, {}
for k = 1, #KEYS do
  local b = (k - 1) * 4
  kind[k], iv[k], cap[k], poll[k] = kp[b + 1], kp[b + 2], kp[b + 3], kp[b + 4]
end
local function fmt(x) return string.format('%.17g', x) end
local nowf = fmt(now)

for i = 1, #rel, 2 do redis.call('ZREM', KEYS[rel[i]], rel[i + 1]) end
for i = 1, #ren, 2 do
  local key = KEYS[ren[i]]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', nowf)
  if redis.call('ZADD', key, 'XX', 'CH', fmt(now + iv[ren[i]]), ren[i + 1]) == 1 then
    redis.call('PEXPIRE', key, math.ceil(iv[ren[i]] / 1000) + 1000)
  end
end

local st, dirty = {}, {}
local function load(k)
  local s = st[k]
  if s then return s end
  local key, kd = KEYS[k], kind[k]
  if kd == 1 then
    local v = redis.call('GET', key)
    s = {tat = v and tonumber(v) or now}
  elseif kd == 2 then
    local idx = math.floor(now / iv[k])
    s = {idx = idx, curr = 0, prev = 0}
    local v = redis.call('GET', key)
    if v then
      local si, sc, sp = string.match(v, '^([^:]+):([^:]+):([^:]+)$')
      si, sc, sp = tonumber(si), tonumber(sc), tonumber(sp)
      if si == idx then s.curr, s.prev = sc, sp
      elseif si == idx - 1 then s.prev = sc end
    end
  else
    redis.call('ZREMRANGEBYSCORE', key, '-inf', nowf)
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    s = {n = redis.call('ZCARD', key), earliest = first[2] and tonumber(first[2]), adds = {}}
  end
  st[k] = s
  return s
end

-- 0 if it fits, else µs to wait; nil if it never can
local function check(k, cost)
  local s, kd = load(k), kind[k]
  if kd == 1 then
    if cost > cap[k] then return nil end
    local need = math.max(s.tat - now, 0) + cost * iv[k]
    local excess = need - cap[k] * iv[k]
    if excess <= 0 then return 0 end
    return excess
  elseif kd == 2 then
    local w, l = iv[k], cap[k]
    if cost > l then return nil end
    local elapsed = now - s.idx * w
    local est = s.prev * ((w - elapsed) / w) + s.curr
    if est + cost <= l then return 0 end
    local wait
    if s.curr + cost <= l then
      wait = w - (l - s.curr - cost) * w / s.prev - elapsed
    else
      local later = 0
      if s.curr > 0 then later = math.max(0, w - (l - cost) * w / s.curr) end
      wait = (w - elapsed) + later
    end
    return math.max(1, wait)
  else
    if s.n + 1 <= cap[k] then return 0 end
    return math.max(1, math.min(s.earliest - now, poll[k]))
  end
end

local function take(k, cost, lease)
  local s, kd = st[k], kind[k]
  dirty[k] = true
  if kd == 1 then
    s.tat = now + (math.max(s.tat - now, 0) + cost * iv[k])
  elseif kd == 2 then
    s.curr = s.curr + cost
  else
    local expiry = now + iv[k]
    s.n = s.n + 1
    if not s.earliest or expiry < s.earliest then s.earliest = expiry end
    s.adds[#s.adds + 1] = fmt(expiry)
    s.adds[#s.adds + 1] = lease
  end
end

local out = {}
for d = 1, #dec do
  local e = dec[d]
  local status, worst, limiting = 1, 0, 0
  for j = 2, #e, 2 do
    local wait = check(e[j], e[j + 1])
    if wait == nil then
      status, worst, limiting = -1, 0, (j - 2) / 2
      break
    end
    if wait > 0 and wait > worst then
      status, worst, limiting = 0, wait, (j - 2) / 2
    end
  end
  if status == 1 then
    for j = 2, #e, 2 do take(e[j], e[j + 1], e[1]) end
  end
  out[#out + 1] = status
  out[#out + 1] = math.ceil(worst)
  out[#out + 1] = limiting
end

for k, _ in pairs(dirty) do
  local s, kd, key = st[k], kind[k], KEYS[k]
  if kd == 1 then
    redis.call('SET', key, fmt(s.tat), 'PX', math.ceil((s.tat - now) / 1000) + 1000)
  elseif kd == 2 then
    redis.call('SET', key, fmt(s.idx) .. ':' .. fmt(s.curr) .. ':' .. fmt(s.prev),
               'PX', math.ceil(2 * iv[k] / 1000) + 1000)
  else
    for i = 1, #s.adds, 2000 do
      redis.call('ZADD', key, unpack(s.adds, i, math.min(i + 1999, #s.adds)))
    end
    redis.call('PEXPIRE', key, math.ceil(iv[k] / 1000) + 1000)
  end
end
return out
"""

# KEYS: limit keys; ARGV: kind per key. Answers [now_us, raw per key]: the stored
# string (GCRA, window) or the number of live leases (concurrency).
PEEK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {tostring(t[1]) .. string.format('%06d', tonumber(t[2]))}
for k = 1, #KEYS do
  if ARGV[k] == '3' then
    local live = redis.call('ZCOUNT', KEYS[k], '(' .. string.format('%.17g', now), '+inf')
    out[#out + 1] = tostring(live)
  else
    out[#out + 1] = redis.call('GET', KEYS[k]) or ''
  end
end
return out
"""
