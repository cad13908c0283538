"""SlackRateLimiter: token buckets per channel and per tenant, and who gets the next slot.

Three buckets stand between a notification and Slack, each kept as GCRA ("theoretical arrival
time") in one Redis key and updated by one Lua script on Redis's own clock, so workers on
different machines share them exactly:

- the channel's: Slack accepts about one message per second per channel
  (``ALERTING_CHANNEL_RATE`` messages per second, burst ``ALERTING_CHANNEL_BURST``);
- the tenant's: ``slack_config.rate_limit`` messages per minute over all its channels, with a
  bucket as deep as the limit (a quiet tenant's burst of up to ``rate_limit`` messages goes at
  once), refilled continuously;
- the tenant's update budget (``ALERTING_UPDATE_RATE`` per minute): ``chat.update`` of a
  message already posted has Slack's own budget, so a follow-up that rewrites its alert's
  message spends this one instead of a post slot of the tenant (its thread line still keeps
  to the channel's pace).

Who goes next is decided here too. Every notification that asks for a slot joins its
channel's *waiting set*, a sorted set ordered by ``(priority, enqueue time)``. A slot is
granted only to the head of its channel's set, and a post takes the tenant's token only when
no more urgent head of another channel could go right now. Nothing sleeps in a worker: a
notification that must wait is told roughly how long (its place in line times the interval of
the bucket that binds) and its task comes back then to ask again; a more urgent newcomer simply
goes ahead of it. A member whose task did not come back within its wait plus
``STALE_SECONDS`` is dropped from the line (its task re-joins at the same place when it
returns), so a lost task never blocks a channel. The waiting set is scheduling only: every
notification is a row in Postgres, which is what guarantees nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis

#: Prefix of the bucket keys; ``ch:<tenant>:<channel>``, ``t:<tenant>``, ``u:<tenant>`` follow.
KEY_PREFIX = "alerting:rate:"
#: Prefix of the waiting sets: ``<tenant>:<channel>`` (sorted set), ``<tenant>`` (the channels
#: with someone waiting), ``dl:<tenant>`` (when each member's task is due back, microseconds),
#: ``joined:<tenant>`` (when it first asked) and ``mode:<tenant>`` (``p`` post, ``u`` update).
WAIT_PREFIX = "alerting:wait:"
#: Seconds past its expected return after which a waiting member is presumed lost.
STALE_SECONDS = 5.0
#: Shortest wait handed out (seconds): a busy line is asked again at most this often.
MIN_WAIT_SECONDS = 0.05
#: A priority band is this many milliseconds wide in a waiting set's score, far more than any
#: enqueue time in milliseconds since the epoch, so priority always orders first.
_BAND_MS = 10**13

# KEYS: channel bucket, tenant bucket, update bucket, channel waiting set, tenant's channels,
#       deadlines hash, joined-at hash, modes hash (a member's mode may change: a digest's
#       first message is a post, its later ones are updates).
# ARGV: 1-6 channel/tenant/update interval and tolerance (microseconds); 7 member; 8 score;
#       9 mode ('p' post, 'u' update); 10 stale grace (us); 11 channel; 12 channel bucket
#       prefix; 13 waiting set prefix; 14 shortest wait (us).
# Returns {granted (1/0), wait us, waited us (granted: since it joined), waiting in channel}.
_ACQUIRE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local ch_i, ch_tol = tonumber(ARGV[1]), tonumber(ARGV[2])
local t_i, t_tol = tonumber(ARGV[3]), tonumber(ARGV[4])
local u_i, u_tol = tonumber(ARGV[5]), tonumber(ARGV[6])
local member, score, mode = ARGV[7], tonumber(ARGV[8]), ARGV[9]
local grace, channel = tonumber(ARGV[10]), ARGV[11]
local ch_prefix, wait_prefix = ARGV[12], ARGV[13]

redis.call('ZADD', KEYS[4], 'NX', score, member)
redis.call('SADD', KEYS[5], channel)
redis.call('HSETNX', KEYS[7], member, now)
redis.call('HSET', KEYS[8], member, mode)

-- The live head of a channel's line; members whose task is long overdue are dropped.
local function head(ch)
  local z = wait_prefix .. ch
  for _ = 1, 20 do
    local h = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
    if #h == 0 then
      redis.call('SREM', KEYS[5], ch)
      return nil, nil
    end
    local due = tonumber(redis.call('HGET', KEYS[6], h[1]) or '0')
    if h[1] ~= member and due > 0 and due < now then
      redis.call('ZREM', z, h[1])
      redis.call('HDEL', KEYS[6], h[1])
      redis.call('HDEL', KEYS[7], h[1])
      redis.call('HDEL', KEYS[8], h[1])
    else
      return h[1], tonumber(h[2])
    end
  end
  return nil, nil
end

local function ready_at(key, tol)
  return tonumber(redis.call('GET', key) or '0') - tol
end

local mine = head(channel)
local slot = math.max(now, ready_at(KEYS[1], ch_tol))
if mode == 'p' then
  slot = math.max(slot, ready_at(KEYS[2], t_tol))
else
  slot = math.max(slot, ready_at(KEYS[3], u_tol))
end

-- A post waits while a more urgent post heading another channel could go now: the tenant's
-- token is that one's.
local ahead_in_tenant = 0
local outranked = false
if mode == 'p' then
  for _, ch in ipairs(redis.call('SMEMBERS', KEYS[5])) do
    local z = wait_prefix .. ch
    if ch ~= channel then
      local h, s = head(ch)
      if h and s < score and redis.call('HGET', KEYS[8], h) == 'p'
         and ready_at(ch_prefix .. ch, ch_tol) <= now then
        outranked = true
      end
    end
    ahead_in_tenant = ahead_in_tenant + redis.call('ZCOUNT', z, '-inf', '(' .. score)
  end
end

local function store(key, tat)
  redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 60000)
end

local waiting = redis.call('ZCARD', KEYS[4])
if mine == member and slot <= now and not outranked then
  store(KEYS[1], math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now) + ch_i)
  if mode == 'p' then
    store(KEYS[2], math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), now) + t_i)
  else
    store(KEYS[3], math.max(tonumber(redis.call('GET', KEYS[3]) or '0'), now) + u_i)
  end
  local joined = tonumber(redis.call('HGET', KEYS[7], member) or now)
  redis.call('ZREM', KEYS[4], member)
  redis.call('HDEL', KEYS[6], member)
  redis.call('HDEL', KEYS[7], member)
  redis.call('HDEL', KEYS[8], member)
  if waiting <= 1 then
    redis.call('SREM', KEYS[5], channel)
  end
  return {1, 0, now - joined, waiting - 1}
end

-- Not yet: the expected wait is this member's place in the lines it stands in.
-- (GCRA: with k ahead, a bucket lets this one go at max(tat, now) + k * interval - tolerance.)
local function turn(key, interval, tol, ahead)
  local tat = math.max(tonumber(redis.call('GET', key) or '0'), now)
  return math.max(tat + ahead * interval - tol - now, 0)
end
local ahead_in_channel = redis.call('ZRANK', KEYS[4], member) or 0
local wait = turn(KEYS[1], ch_i, ch_tol, ahead_in_channel)
if mode == 'p' then
  wait = math.max(wait, turn(KEYS[2], t_i, t_tol, ahead_in_tenant))
else
  wait = math.max(wait, turn(KEYS[3], u_i, u_tol, ahead_in_channel))
end
wait = math.max(wait, tonumber(ARGV[14]))
redis.call('HSET', KEYS[6], member, string.format('%.0f', now + wait + grace))
local ttl = math.ceil((wait + grace) / 1000) + 600000
for i = 4, 8 do
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return {0, wait, 0, waiting}
"""

# KEYS: channel waiting set, deadlines, joined-at, modes. ARGV: member.
_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
for i = 2, 4 do
  redis.call('HDEL', KEYS[i], ARGV[1])
end
return redis.call('ZCARD', KEYS[1])
"""


@dataclass(frozen=True, slots=True)
class Grant:
    #: True: post now. False: ask again after ``wait``.
    granted: bool
    #: Seconds until this message's turn is expected (0 when granted).
    wait: float
    #: Granted: seconds it stood in line since it first asked.
    waited: float
    #: Messages still waiting in the channel.
    waiting: int


class SlackRateLimiter:
    """Grant posting (and updating) slots for a tenant's channels, most urgent first.

    ``channel_per_second`` and ``channel_burst`` describe Slack's per-channel limit;
    ``updates_per_minute`` the tenant's ``chat.update`` budget; ``rate_limit`` (per call) is
    the tenant's messages per minute.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        channel_per_second: float,
        channel_burst: int = 1,
        updates_per_minute: float = 50.0,
        update_burst: int = 10,
    ) -> None:
        self.client = client
        self.channel_interval = 1.0 / channel_per_second
        self.channel_burst = channel_burst
        self.update_interval = 60.0 / updates_per_minute
        self.update_burst = update_burst
        self._acquire = client.register_script(_ACQUIRE)
        self._leave = client.register_script(_LEAVE)

    def acquire(
        self,
        tenant_id: str,
        channel: str,
        *,
        member: str,
        priority: int,
        enqueued_at: datetime,
        rate_limit: int,
        update: bool = False,
    ) -> Grant:
        """Take a slot for ``member`` (a notification id) if it is its turn, else join or keep
        its place in line. ``update``: a ``chat.update`` of a posted message (and its thread
        line), which spends the update budget instead of a post slot of the tenant."""
        tenant_interval = 60.0 / rate_limit
        score = priority * _BAND_MS + int(enqueued_at.timestamp() * 1000)
        mode = "u" if update else "p"
        result = self._acquire(
            keys=[
                f"{KEY_PREFIX}ch:{tenant_id}:{channel}",
                f"{KEY_PREFIX}t:{tenant_id}",
                f"{KEY_PREFIX}u:{tenant_id}",
                f"{WAIT_PREFIX}{tenant_id}:{channel}",
                f"{WAIT_PREFIX}{tenant_id}",
                f"{WAIT_PREFIX}dl:{tenant_id}",
                f"{WAIT_PREFIX}joined:{tenant_id}",
                f"{WAIT_PREFIX}mode:{tenant_id}",
            ],
            args=[
                round(self.channel_interval * 1e6),
                round((self.channel_burst - 1) * self.channel_interval * 1e6),
                round(tenant_interval * 1e6),
                # As deep as the limit: a quiet tenant may send rate_limit messages at once.
                round((rate_limit - 1) * tenant_interval * 1e6),
                round(self.update_interval * 1e6),
                round((self.update_burst - 1) * self.update_interval * 1e6),
                member,
                score,
                mode,
                round(STALE_SECONDS * 1e6),
                channel,
                f"{KEY_PREFIX}ch:{tenant_id}:",
                f"{WAIT_PREFIX}{tenant_id}:",
                round(MIN_WAIT_SECONDS * 1e6),
            ],
        )
        granted, wait, waited, waiting = (int(v) for v in result)
        return Grant(bool(granted), wait / 1e6, waited / 1e6, waiting)

    def leave(self, tenant_id: str, channel: str, member: str) -> int:
        """Take a member out of line (folded into a digest, or settled otherwise); how many
        still wait in the channel."""
        return int(
            self._leave(
                keys=[
                    f"{WAIT_PREFIX}{tenant_id}:{channel}",
                    f"{WAIT_PREFIX}dl:{tenant_id}",
                    f"{WAIT_PREFIX}joined:{tenant_id}",
                    f"{WAIT_PREFIX}mode:{tenant_id}",
                ],
                args=[member],
            )
        )
