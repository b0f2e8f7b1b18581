"""Keeps secrets out of every log line, whichever handler writes it: Stripe keys, tokens and webhook secrets (also
percent- or JSON-encoded), Argon2 password hashes, Fernet ciphertexts, SHA-256 digests, and the tokens of emailed
links."""
import logging
import re

# An underscore as written, percent-encoded (%5F) or JSON-escaped (\\u005f).
_US = r"(?:_|%5[Ff]|\\u005[Ff])"
# A key may follow an encoded quote or space (%22rk_…, %20sk_…): a plain \\b misses it after "%22".
_START = r"(?:(?<![A-Za-z0-9])|(?<=%[0-9A-Fa-f]{2})|(?<=\\u[0-9A-Fa-f]{4}))"
SECRET_PATTERN = re.compile(
    _START + rf"((?:sk|rk|pk){_US}(?:live|test){_US}|rt{_US}|ac{_US}|whsec{_US})(?:[A-Za-z0-9]|{_US}){{6,}}"
)
# $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>
ARGON2_PATTERN = re.compile(r"\$argon2(?:id|i|d)\$(?:v=\d+\$)?[mtp=\d,]+\$[A-Za-z0-9+/]+(?:\$[A-Za-z0-9+/]+)?")
# Fernet tokens always start with version byte 0x80 and a timestamp: base64url "gAAAAA…".
FERNET_PATTERN = re.compile(r"gAAAAA[A-Za-z0-9_\-]{20,}={0,2}")
# SHA-256 digests (session keys, recovery codes, signatures) as 64 hex digits: no use to anyone reading logs.
DIGEST_PATTERN = re.compile(r"(?<![0-9A-Fa-f])[0-9a-f]{64}(?![0-9A-Fa-f])")
# The token part of an emailed link (access logs print request paths).
LINK_TOKEN_PATTERN = re.compile(r"(/(?:password/reset|verify)/)[^\s?\"'#]+")


def redact(text):
    text = SECRET_PATTERN.sub(lambda m: re.split(_US, m.group(1))[0] + "_[REDACTED]", text)
    text = ARGON2_PATTERN.sub("$argon2[REDACTED]", text)
    text = FERNET_PATTERN.sub("[REDACTED-CIPHERTEXT]", text)
    text = DIGEST_PATTERN.sub("[REDACTED-DIGEST]", text)
    return LINK_TOKEN_PATTERN.sub(r"\1[REDACTED]", text)


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
