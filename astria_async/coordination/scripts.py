"""The Lua scripts of the Redis backend: each check-and-change runs atomically on the server.

Keys share one `{namespace}` hash tag, so a Redis Cluster keeps them in one slot. Times are
the server's (`TIME`), so workers' clocks never need to agree. Per-tune in-flight sets are
named from the in-flight set's key (`<flying>:<tune id>`) inside the scripts.
"""

from __future__ import annotations

# KEYS: counts (hash tune → prompts), flying (zset place → expiry ms), places (hash place →
# "tune,tune"), place_prompt (hash place → prompt id), prompt_place (hash prompt id → place).
# ARGV: place, ttl ms, cap, max in flight (0: none), max in flight per tune (0: none), tunes…
# Returns {"ok"}, {"cap", tune, used, in flight} or {bound, tune, in flight, blocker ids…}.
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local counts, flying, places, place_prompt, prompt_place =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local function expire(key)
  local gone = redis.call('ZRANGEBYSCORE', key, '-inf', now)
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', key, '-inf', now) end
  return gone
end
for _, p in ipairs(expire(flying)) do
  local pid = redis.call('HGET', place_prompt, p)
  if pid then redis.call('HDEL', prompt_place, pid) end
  redis.call('HDEL', places, p)
  redis.call('HDEL', place_prompt, p)
end
local tunes = {}
for i = 6, #ARGV do tunes[#tunes + 1] = ARGV[i] end
for _, tid in ipairs(tunes) do expire(flying .. ':' .. tid) end
local cap = tonumber(ARGV[3])
for _, tid in ipairs(tunes) do
  local used = tonumber(redis.call('HGET', counts, tid) or '0')
  if used + 1 > cap then
    return {'cap', tid, used, redis.call('ZCARD', flying .. ':' .. tid)}
  end
end
local function blocked(bound, tid, key)
  local out = {bound, tid, redis.call('ZCARD', key)}
  local held = redis.call('ZRANGE', key, 0, 49)
  if #held > 0 then  -- one HMGET, not one HGET a place: a refusal is 4 commands, not 53
    for _, pid in ipairs(redis.call('HMGET', place_prompt, unpack(held))) do
      if pid then out[#out + 1] = pid end
    end
  end
  return out
end
local all, per = tonumber(ARGV[4]), tonumber(ARGV[5])
if all > 0 and redis.call('ZCARD', flying) >= all then
  return blocked('max_in_flight', '', flying)
end
if per > 0 then
  for _, tid in ipairs(tunes) do
    if redis.call('ZCARD', flying .. ':' .. tid) >= per then
      return blocked('max_in_flight_per_tune', tid, flying .. ':' .. tid)
    end
  end
end
local expiry = now + tonumber(ARGV[2])
for _, tid in ipairs(tunes) do
  redis.call('HINCRBY', counts, tid, 1)
  redis.call('ZADD', flying .. ':' .. tid, expiry, ARGV[1])
end
redis.call('ZADD', flying, expiry, ARGV[1])
redis.call('HSET', places, ARGV[1], table.concat(tunes, ','))
return {'ok'}
"""

# KEYS: as RESERVE. ARGV: place ("" to find it by prompt), uncount (0/1), prompt id (or ""),
# the channel told that a place is free. Returns 1 if a place was freed.
RELEASE = """
local counts, flying, places, place_prompt, prompt_place =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local place = ARGV[1]
if place == '' then
  place = redis.call('HGET', prompt_place, ARGV[3])
  if not place then return 0 end
end
local pid = redis.call('HGET', place_prompt, place)
if pid then redis.call('HDEL', prompt_place, pid) end
redis.call('HDEL', place_prompt, place)
local tunes = redis.call('HGET', places, place)
if not tunes then return 0 end
redis.call('HDEL', places, place)
redis.call('ZREM', flying, place)
for tid in string.gmatch(tunes, '[^,]+') do
  redis.call('ZREM', flying .. ':' .. tid, place)
  if ARGV[2] == '1' and tonumber(redis.call('HGET', counts, tid) or '0') > 0 then
    redis.call('HINCRBY', counts, tid, -1)
  end
end
redis.call('PUBLISH', ARGV[4], 'released')
return 1
"""

# KEYS: places, place_prompt, prompt_place. ARGV: place, prompt id. Ties a live place to its
# prompt (a place that expired meanwhile stays gone).
CREATED = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
return 1
"""

# KEYS: counts, the tune's seed mark. ARGV: tune, count, ms the mark lasts. The count never
# goes down; the mark tells other workers the tune was counted on the server lately.
SEED = """
redis.call('SET', KEYS[2], 'done', 'PX', ARGV[3])
local used = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local want = tonumber(ARGV[2])
if want > used then redis.call('HSET', KEYS[1], ARGV[1], want); return want end
return used
"""

# KEYS: counts, the tune's seed mark. ARGV: tune, ms a claim lasts. {'mine'}: this worker
# counts the tune on the server now (it holds the claim); {'done', count}: a worker did
# lately; {'busy'}: one is counting it now.
SEED_CLAIM = """
local mark = redis.call('GET', KEYS[2])
if mark == 'done' then
  return {'done', tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')}
end
if mark then return {'busy'} end
redis.call('SET', KEYS[2], 'busy', 'PX', ARGV[2])
return {'mine'}
"""

# KEYS: pause. ARGV: ms, channel, message. Lengthens the account pause, never shortens it.
PAUSE = """
local left = redis.call('PTTL', KEYS[1])
local ms = tonumber(ARGV[1])
if left < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return ms
end
return left
"""

# KEYS: leader. ARGV: me, lease ms. Renews my lease or takes a free one; 1 if I lead.
LEAD = """
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# KEYS: watched (zset id → expiry ms). ARGV: ttl ms, ids… Registers ids a worker waits for.
REGISTER = """
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'GT', expiry, ARGV[i]) end
return #ARGV - 1
"""

# KEYS: watched. Returns the ids some live worker waits for (expired ones dropped).
WATCHED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""

# ARGV: state key prefix, ttl ms, channel, message, then id, json pairs. Keeps each state for
# workers that register its id later, and tells the listening ones now.
STATES = """
for i = 5, #ARGV, 2 do
  redis.call('SET', ARGV[1] .. ARGV[i], ARGV[i + 1], 'PX', ARGV[2])
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""

# KEYS: leader. ARGV: me. Gives the lease up (a worker closing), so another takes it at once.
RESIGN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# --- the batch journal (`batch._redis_journal`): one hash per job, `owner` the worker
# holding it; a worker is alive while its `alive:<worker>` key (a lease) exists.

# KEYS: the set of job keys. ARGV: job hash prefix, retry failed (0/1), then key, line,
# tune id, spec for each job. New jobs are pending; see `batch.Journal.add` for the rest.
JOB_ADD = """
local prefix, retry = ARGV[1], ARGV[2] == '1'
for i = 3, #ARGV, 4 do
  local k = prefix .. ARGV[i]
  if redis.call('EXISTS', k) == 0 then
    redis.call('HSET', k, 'line', ARGV[i + 1], 'tune_id', ARGV[i + 2], 'spec', ARGV[i + 3],
               'status', 'pending', 'creates', 0, 'cost_mc', 0, 'images', 0)
    redis.call('SADD', KEYS[1], ARGV[i])
  else
    redis.call('HSET', k, 'line', ARGV[i + 1])
    local status = redis.call('HGET', k, 'status')
    if status == 'pending' then
      redis.call('HSET', k, 'tune_id', ARGV[i + 2], 'spec', ARGV[i + 3])
    elseif status == 'failed' and retry then
      redis.call('HSET', k, 'status', 'pending', 'cost_mc', 0, 'tune_id', ARGV[i + 2],
                 'spec', ARGV[i + 3])
      redis.call('HDEL', k, 'error')
    end
  end
end
return 1
"""

# KEYS: the job hash. ARGV: me, alive key prefix. Takes the job unless a live worker holds
# an unfinished one: {'ok', field, value…} (its hash), {'held', worker} or {'missing'}.
JOB_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. owner) == 1 then
  local status = redis.call('HGET', KEYS[1], 'status')
  if status ~= 'done' and status ~= 'failed' then return {'held', owner} end
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
local all = redis.call('HGETALL', KEYS[1])
table.insert(all, 1, 'ok')
return all
"""

# ARGV: job hash prefix, me, alive key prefix, then job keys. For each job: 1 while another
# live worker holds it unfinished, 2 once it is finished (done or failed), 0 otherwise (free
# to take, or not journaled: `take` says so). Reads only: the jobs a worker waits on others
# for are checked in one round trip, and only the free ones taken.
JOB_HELD = """
local out = {}
for i = 4, #ARGV do
  local k = ARGV[1] .. ARGV[i]
  local status = redis.call('HGET', k, 'status')
  local state = 0
  if status == 'done' or status == 'failed' then
    state = 2
  elseif status then
    local owner = redis.call('HGET', k, 'owner')
    if owner and owner ~= ARGV[2] and redis.call('EXISTS', ARGV[3] .. owner) == 1 then
      state = 1
    end
  end
  out[#out + 1] = state
end
return out
"""

# KEYS: the account pause. ARGV: job hash prefix, me, then key, cost for each job. While the
# account is paused (a 429 any worker saw) marks nothing: {'pause', ms left}. Otherwise marks
# the jobs this worker holds (or that nobody holds: given back as unsent, taken again here)
# as creating at the server's time: {'ok', time, refused key,
# its holder…}.
JOB_MARK = """
local left = redis.call('PTTL', KEYS[1])
if left > 0 then return {'pause', left} end
local t = redis.call('TIME')
local at = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local out = {'ok', at}
for i = 3, #ARGV, 2 do
  local k = ARGV[1] .. ARGV[i]
  local owner = redis.call('HGET', k, 'owner')
  if owner == ARGV[2] or not owner then
    redis.call('HSET', k, 'owner', ARGV[2], 'status', 'creating', 'creating_at', at,
               'cost_mc', ARGV[i + 1])
    redis.call('HINCRBY', k, 'creates', 1)
    redis.call('HDEL', k, 'error')
  else
    out[#out + 1] = ARGV[i]
    out[#out + 1] = owner or ''
  end
end
return out
"""

# KEYS: the job hash. ARGV: me, progress (the rank of a status it moves forward to, or ''),
# n, then n field/value pairs to set, then fields to delete. The worker holding the job
# writes it (1). Another's write is dropped (0) unless it is progress the job has not made
# yet (a worker that lost its lease still finished it: created, then done, are facts).
JOB_SET = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  if ARGV[2] == '' then return 0 end
  local ranks = {pending = 0, creating = 1, created = 2, done = 3, failed = 3}
  local now = ranks[redis.call('HGET', KEYS[1], 'status') or 'pending'] or 0
  if tonumber(ARGV[2]) <= now then return 0 end
end
local n = tonumber(ARGV[3])
for i = 4, 3 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = 4 + 2 * n, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
return 1
"""
