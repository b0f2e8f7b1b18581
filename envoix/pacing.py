"""Pacing of every Stripe request Envoix makes, shared by all of its processes.

Stripe allows 100 read requests per second per account in live mode and 25 in test mode; over that it answers
429 (`rate_limit`). Envoix stays at a share of that (`ENVOIX_STRIPE_PACE_SHARE`, 80 %) for each Stripe account
and mode, and all requests made with the platform key (OAuth accounts, the platform's own calls) also count
against one platform-wide cap per mode.

The mechanism is a sliding-window log with reservations: a bucket keeps the times of its last N requests
(N = the allowed requests per second); a new request takes the slot `max(now, last slot, N-th last slot + 1 s)`
and waits until then. So no window of one second ever holds more than N requests, bursts up to N go out at once
(a key check's ten probes), and a waiting caller sleeps exactly once instead of polling. Taking a slot is one
atomic step in the shared store: a Lua script in Redis (production: every web and worker process on every
machine shares it), or a transaction in a small SQLite file beside the job queue (the embedded set-up: all
processes run on one machine). `limits` and `pyrate-limiter` test or count hits but cannot hand out a future
slot atomically, and neither stores in SQLite: waiting callers would poll the store, and the embedded set-up
would need a second mechanism.

A 429 that arrives anyway (another program using the same account, Stripe lowering the limit) pushes the
bucket back for everyone (`penalize`), so all processes back off together.
"""
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)
STRIPE_READS_PER_SECOND = {"live": 100, "test": 25}
# One second, plus a margin: between taking a slot and reaching Stripe, requests of many threads bunch up (thread
# scheduling, the network; with Redis, the round trip between Redis's clock and the caller's). Measured at the
# double with a 2 % margin: up to 86 requests in a second at 80 per second paced; 10 % keeps them at 80 or below.
WINDOW = 1.1


@dataclass(frozen=True)
class Bucket:
    """One pace: `name` is shared by every process (e.g. `acct:acct_123:live`), `per_second` requests at most."""

    name: str
    per_second: int


def mode_of(api_key):
    return "live" if (api_key or "").startswith(("sk_live_", "rk_live_")) else "test"


def buckets_for(api_key, stripe_account, platform_key, share, platform_per_second=None):
    """The buckets one request takes a slot in: its account's, and the platform's when the platform key is used."""
    mode = mode_of(api_key)
    per_second = max(1, int(STRIPE_READS_PER_SECOND[mode] * share))
    if stripe_account:
        account = f"acct:{stripe_account}:{mode}"
    else:
        # A restricted key belongs to one account, which Envoix may not know yet (a key being checked).
        account = "key:" + _fingerprint(api_key) + f":{mode}"
    buckets = [Bucket(account, per_second)]
    if platform_key and api_key == platform_key:
        buckets.append(Bucket(f"platform:{mode}", platform_per_second or per_second))
    return tuple(buckets)


def _fingerprint(api_key):
    import hashlib

    return hashlib.sha256((api_key or "").encode()).hexdigest()[:16]


class Pacer:
    """Hands out slots; `wait_turn` sleeps until the request may go."""

    def reserve(self, buckets, now=None):  # pragma: no cover - interface
        """Atomically take the next slot in every bucket; returns the slot's time (time.time() scale)."""
        raise NotImplementedError

    def penalize(self, buckets, seconds):  # pragma: no cover - interface
        """No slot in these buckets before now + seconds (a 429 came back)."""
        raise NotImplementedError

    def wait_turn(self, buckets):
        if not buckets:
            return 0.0
        try:
            slot = self.reserve(buckets)
        except Exception as error:  # the store is down: Stripe's own 429s (and our back-off) still pace us
            log.warning("pacing store unavailable (%s): the request goes unpaced", type(error).__name__)
            return 0.0
        wait = slot - time.time()
        if wait > 0:
            time.sleep(wait)
        return max(0.0, wait)


def _next_slot(slots, blocked_until, per_second, now):
    """The slot rule, the same in Python and in Lua: (slot, the kept slots)."""
    slot = max(now, blocked_until or 0.0)
    if slots:
        slot = max(slot, slots[-1])
        if len(slots) >= per_second:
            slot = max(slot, slots[-per_second] + WINDOW)
    kept = [s for s in slots if s > slot - WINDOW][-(per_second - 1):] if per_second > 1 else []
    return slot, kept + [slot]


class MemoryPacer(Pacer):
    """One process only (tests in immediate mode): the same rule in a dict."""

    def __init__(self):
        self._lock = threading.Lock()
        self._buckets = {}

    def reserve(self, buckets, now=None):
        now = time.time() if now is None else now
        with self._lock:
            slot = now
            for bucket in buckets:
                slots, blocked = self._buckets.get(bucket.name, ([], 0.0))
                slot = max(slot, _next_slot(slots, blocked, bucket.per_second, now)[0])
            for bucket in buckets:
                slots, blocked = self._buckets.get(bucket.name, ([], 0.0))
                self._buckets[bucket.name] = (_next_slot(slots, blocked, bucket.per_second, slot)[1], blocked)
            return slot

    def penalize(self, buckets, seconds):
        until = time.time() + seconds
        with self._lock:
            for bucket in buckets:
                slots, blocked = self._buckets.get(bucket.name, ([], 0.0))
                self._buckets[bucket.name] = (slots, max(blocked, until))


class SqlitePacer(Pacer):
    """The embedded store: one row per bucket in a SQLite file every process on this machine opens."""

    def __init__(self, path):
        self.path = str(path)
        self._local = threading.local()
        with self._connection() as db:
            db.execute("CREATE TABLE IF NOT EXISTS bucket (name TEXT PRIMARY KEY, slots TEXT NOT NULL, "
                       "blocked_until REAL NOT NULL DEFAULT 0)")

    def _connection(self):
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=wal")
            db.execute("PRAGMA synchronous=normal")
            self._local.db = db
        return _Transaction(db)

    def reserve(self, buckets, now=None):
        with self._connection() as db:
            now = time.time() if now is None else now
            rows = {}
            for bucket in buckets:
                row = db.execute("SELECT slots, blocked_until FROM bucket WHERE name = ?", (bucket.name,)).fetchone()
                rows[bucket] = (json.loads(row[0]), row[1]) if row else ([], 0.0)
            slot = now
            for bucket, (slots, blocked) in rows.items():
                slot = max(slot, _next_slot(slots, blocked, bucket.per_second, now)[0])
            for bucket, (slots, blocked) in rows.items():
                kept = _next_slot(slots, blocked, bucket.per_second, slot)[1]
                db.execute("INSERT INTO bucket (name, slots, blocked_until) VALUES (?, ?, ?) "
                           "ON CONFLICT (name) DO UPDATE SET slots = excluded.slots",
                           (bucket.name, json.dumps(kept), blocked))
            return slot

    def penalize(self, buckets, seconds):
        until = time.time() + seconds
        with self._connection() as db:
            for bucket in buckets:
                db.execute("INSERT INTO bucket (name, slots, blocked_until) VALUES (?, '[]', ?) "
                           "ON CONFLICT (name) DO UPDATE SET blocked_until = max(blocked_until, excluded.blocked_until)",
                           (bucket.name, until))


class _Transaction:
    def __init__(self, db):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, _value, _traceback):
        self.db.execute("ROLLBACK" if kind else "COMMIT")


# KEYS: the buckets' names; ARGV: per_second of each bucket, then the penalty key prefix. Redis's own clock
# (TIME), so machines whose clocks differ still share one timeline.
_RESERVE = """
local WINDOW = WINDOW_SECONDS
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local slot = now
for i, key in ipairs(KEYS) do
  local n = tonumber(ARGV[i])
  local blocked = tonumber(redis.call('GET', key .. ':blocked') or '0')
  if blocked > slot then slot = blocked end
  local last = redis.call('LINDEX', key, -1)
  if last and tonumber(last) > slot then slot = tonumber(last) end
  if redis.call('LLEN', key) >= n then
    local nth = tonumber(redis.call('LINDEX', key, -n))
    if nth + WINDOW > slot then slot = nth + WINDOW end
  end
end
for i, key in ipairs(KEYS) do
  local n = tonumber(ARGV[i])
  redis.call('RPUSH', key, string.format('%.6f', slot))
  redis.call('LTRIM', key, -n, -1)
  redis.call('EXPIRE', key, 10)
end
return string.format('%.6f', slot - now)
""".replace("WINDOW_SECONDS", repr(WINDOW))
_PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untl = now + tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local current = tonumber(redis.call('GET', key .. ':blocked') or '0')
  if untl > current then redis.call('SET', key .. ':blocked', string.format('%.6f', untl), 'EX', 60) end
end
return 1
"""


class RedisPacer(Pacer):
    """Production: every process on every machine shares the buckets in Redis."""

    def __init__(self, url, prefix="envoix:pace:"):
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix
        self._reserve = self.redis.register_script(_RESERVE)
        self._penalize = self.redis.register_script(_PENALIZE)

    def reserve(self, buckets, now=None):
        wait = float(self._reserve(keys=[self.prefix + b.name for b in buckets],
                                   args=[b.per_second for b in buckets]))
        return time.time() + wait

    def penalize(self, buckets, seconds):
        self._penalize(keys=[self.prefix + b.name for b in buckets], args=[seconds])


def pacer_for(app):
    """The app's pacer: Redis when REDIS_URL is set, else the SQLite file beside the embedded job queue."""
    config = app.config
    if config.get("REDIS_URL"):
        return RedisPacer(config["REDIS_URL"], prefix=config.get("ENVOIX_PACING_PREFIX") or "envoix:pace:")
    path = config.get("ENVOIX_PACING_FILE")
    if path:
        return SqlitePacer(path)
    return MemoryPacer()
