"""Keeps Stripe keys, tokens and webhook secrets out of every log line, whichever handler writes it."""
import logging
import re

SECRET_PATTERN = re.compile(
    r"\b(?:(?:sk|rk|pk)_(?:live|test)_|rt_|ac_|whsec_)[A-Za-z0-9_]{6,}"
)


def redact(text):
    return SECRET_PATTERN.sub(lambda m: m.group(0).split("_")[0] + "_[REDACTED]", text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record's message (and its traceback text) with secrets replaced by `[REDACTED]`."""

    def filter(self, record):
        message = record.getMessage()
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_installed = False


def install():
    """Redact at record creation, so no handler (ours, gunicorn's, pytest's capture) sees a secret."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()
    redactor = RedactSecretsFilter()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        redactor.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
