"""SlackRateLimiter: token buckets per channel and per tenant, shared by every worker in Redis.

Two buckets stand between a notification and Slack: its channel's (Slack accepts about one
message per second per channel) and its tenant's (``slack_config.rate_limit``, messages per
minute over all channels). Both are kept as GCRA ("theoretical arrival time") in one Redis key
each and updated together by one Lua script, with Redis's own clock, so workers on different
machines share them exactly.

Nothing is dropped and no worker sleeps: a notification over the limit *reserves* the next free
slot of both buckets and its task comes back at that moment (``retry(countdown=...)``). The
reservation is what keeps a burst orderly: a thousand waiting notifications get a thousand
distinct slots instead of waking together to fight for one token. A slot further ahead than
``max_reserve`` is not taken (the task tries again later), so a huge backlog never books the
buckets for hours; grouping (digests) is what keeps backlogs small in the first place.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

#: Prefix of the bucket keys; ``ch:<tenant>:<channel>`` and ``t:<tenant>`` follow.
KEY_PREFIX = "alerting:rate:"
#: Seconds of the tenant's per-minute allowance that may go out at once.
TENANT_BURST_SECONDS = 10

# KEYS: channel bucket, tenant bucket. ARGV: channel interval, channel tolerance, tenant interval,
# tenant tolerance (all microseconds), longest reservation (microseconds).
# Returns the microseconds until the reserved slot (0: go now), or -wait when nothing was
# reserved because the slot lies beyond the longest reservation.
_RESERVE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local ch_tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local t_tat = tonumber(redis.call('GET', KEYS[2]) or '0')
local ch_interval, ch_tol = tonumber(ARGV[1]), tonumber(ARGV[2])
local t_interval, t_tol = tonumber(ARGV[3]), tonumber(ARGV[4])
local slot = math.max(now, ch_tat - ch_tol, t_tat - t_tol)
local wait = slot - now
if wait > tonumber(ARGV[5]) then
  return -wait
end
ch_tat = math.max(ch_tat, slot) + ch_interval
t_tat = math.max(t_tat, slot) + t_interval
-- Keys outlive their last slot by a minute, then an idle bucket is simply full again.
local function store(key, tat)
  redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 60000)
end
store(KEYS[1], ch_tat)
store(KEYS[2], t_tat)
return wait
"""


@dataclass(frozen=True, slots=True)
class Reservation:
    #: Seconds until the notification may be posted (0: now).
    wait: float
    #: False when no slot was booked (too far ahead): try again after ``wait``.
    reserved: bool


class SlackRateLimiter:
    """Reserve posting slots for a tenant's channel.

    ``channel_per_second`` and ``channel_burst`` describe Slack's per-channel limit;
    ``rate_limit`` (per call) is the tenant's messages per minute.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        channel_per_second: float,
        channel_burst: int = 1,
        max_reserve: float = 300.0,
    ) -> None:
        self.client = client
        self.channel_interval = 1.0 / channel_per_second
        self.channel_burst = channel_burst
        self.max_reserve = max_reserve
        self._script = client.register_script(_RESERVE)

    def reserve(self, tenant_id: str, channel: str, rate_limit: int) -> Reservation:
        tenant_interval = 60.0 / rate_limit
        tenant_burst = max(1, rate_limit * TENANT_BURST_SECONDS // 60)
        micros = self._script(
            keys=[f"{KEY_PREFIX}ch:{tenant_id}:{channel}", f"{KEY_PREFIX}t:{tenant_id}"],
            args=[
                round(self.channel_interval * 1e6),
                round((self.channel_burst - 1) * self.channel_interval * 1e6),
                round(tenant_interval * 1e6),
                round((tenant_burst - 1) * tenant_interval * 1e6),
                round(self.max_reserve * 1e6),
            ],
        )
        value = int(micros)
        return Reservation(abs(value) / 1e6, reserved=value >= 0)
