"""Attempt limits (failed logins, key validations) counted in the database, so every worker sees them."""
import hashlib
from dataclasses import dataclass
from datetime import timedelta

from peewee import fn

from .db import database
from .models import ThrottleHit, utcnow


@dataclass(frozen=True)
class Limit:
    attempts: int
    window: timedelta


def _stored(bucket):
    # Bucket names carry what the client sent (an email, an X-Forwarded-For address): one the column cannot hold
    # (longer than ThrottleHit.bucket, or with a NUL byte, which PostgreSQL refuses) is counted under its digest.
    if len(bucket) <= ThrottleHit.bucket.max_length and "\x00" not in bucket:
        return bucket
    return "sha256:" + hashlib.sha256(bucket.encode("utf-8", "surrogatepass")).hexdigest()


def retry_after(bucket, limit):
    """Seconds until `bucket` may try again, or 0 if it is under `limit`."""
    bucket = _stored(bucket)
    since = utcnow() - limit.window
    hits = (
        ThrottleHit.select(ThrottleHit.at)
        .where((ThrottleHit.bucket == bucket) & (ThrottleHit.at > since))
        .order_by(ThrottleHit.at.desc())
        .limit(limit.attempts)
    )
    times = [hit.at for hit in hits]
    if len(times) < limit.attempts:
        return 0
    oldest_counted = times[-1]
    return max(1, int((oldest_counted + limit.window - utcnow()).total_seconds()) + 1)


def first_blocked(buckets, limit):
    """The longest wait among `buckets` (0 when none is over the limit)."""
    return max((retry_after(bucket, limit) for bucket in buckets), default=0)


def admit(buckets, limit):
    """Count one attempt in every bucket unless that takes one over `limit`; returns the wait (0: admitted).

    Recording first and counting afterwards keeps the limit exact when workers race: of attempts that
    arrive together, none sees fewer hits than were committed before it, so at most `limit` get through.
    A refused attempt takes its hits back, so hammering does not extend the wait.
    """
    buckets = [_stored(bucket) for bucket in buckets]
    with database.atomic():  # one commit for all buckets, before counting
        hit_ids = [ThrottleHit.insert(bucket=bucket, at=utcnow()).execute() for bucket in buckets]
    since = utcnow() - limit.window
    counts = (
        ThrottleHit.select(fn.COUNT(ThrottleHit.id))
        .where(ThrottleHit.bucket.in_(buckets) & (ThrottleHit.at > since))
        .group_by(ThrottleHit.bucket).tuples()
    )
    if max((count for count, in counts), default=0) <= limit.attempts:
        return 0
    ThrottleHit.delete().where(ThrottleHit.id.in_(hit_ids)).execute()
    return max(1, first_blocked(buckets, limit))


def progressive_wait(bucket, free, window, base_seconds=2, cap_seconds=900):
    """Seconds `bucket` must still wait: nothing for its first `free` hits in `window`, then 2 s, 4 s, 8 s …
    after each further hit (at most `cap_seconds`). Slows a guesser down without ever locking anyone else out."""
    bucket = _stored(bucket)
    since = utcnow() - window
    hits = (ThrottleHit.select(fn.COUNT(ThrottleHit.id), fn.MAX(ThrottleHit.at))
            .where((ThrottleHit.bucket == bucket) & (ThrottleHit.at > since)).tuples().first())
    count, latest = hits or (0, None)
    if not count or count < free or latest is None:
        return 0
    if isinstance(latest, str):  # SQLite hands MAX() back as text
        from datetime import datetime
        latest = datetime.fromisoformat(latest)
    delay = min(cap_seconds, base_seconds * 2 ** min(count - free, 20))
    remaining = (latest + timedelta(seconds=delay) - utcnow()).total_seconds()
    return max(0, int(remaining + 0.999))


def record(*buckets):
    ThrottleHit.insert_many([{"bucket": _stored(bucket), "at": utcnow()} for bucket in buckets]).execute()


def clear(bucket):
    ThrottleHit.delete().where(ThrottleHit.bucket == _stored(bucket)).execute()


def forget_older_than(window):
    """Housekeeping: hits older than the longest window count for nothing."""
    return ThrottleHit.delete().where(ThrottleHit.at < utcnow() - window).execute()
