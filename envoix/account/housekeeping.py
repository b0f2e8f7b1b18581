"""The daily clean-up: throttle counts, ended sessions and account events past their retention."""
import logging
from datetime import timedelta

from huey import crontab

from .. import throttle
from ..auth import sessions
from ..jobs import periodic_job
from . import events

log = logging.getLogger(__name__)
# Longer than every throttle window (the longest is the one-hour sign-up limit).
THROTTLE_KEPT = timedelta(days=1)


@periodic_job(lambda config: crontab(minute="17", hour="3"))
def clean_up_account_data():
    hits = throttle.forget_older_than(THROTTLE_KEPT)
    ended = sessions.forget_expired()
    old = events.forget_older_than()
    log.info("housekeeping: %d throttle hits, %d ended sessions, %d old account events deleted", hits, ended, old)


JOBS = (clean_up_account_data,)
