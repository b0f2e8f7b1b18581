"""Attempt limits (failed logins, key validations) counted in the database, so every worker sees them."""
from dataclasses import dataclass
from datetime import timedelta

from .models import ThrottleHit, utcnow


@dataclass(frozen=True)
class Limit:
    attempts: int
    window: timedelta


def retry_after(bucket, limit):
    """Seconds until `bucket` may try again, or 0 if it is under `limit`."""
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


def record(*buckets):
    ThrottleHit.insert_many([{"bucket": bucket, "at": utcnow()} for bucket in buckets]).execute()


def clear(bucket):
    ThrottleHit.delete().where(ThrottleHit.bucket == bucket).execute()


def forget_older_than(window):
    """Housekeeping: hits older than the longest window count for nothing."""
    return ThrottleHit.delete().where(ThrottleHit.at < utcnow() - window).execute()
