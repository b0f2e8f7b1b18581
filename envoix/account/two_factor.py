"""Two-factor sign-in with an authenticator app (TOTP, RFC 6238, via pyotp) and one-time recovery codes.

The secret is Fernet ciphertext in the database; recovery codes are kept as SHA-256 digests only and each
works once. A code is accepted in its 30-second step and the neighbouring ones, and never twice (the last
step used is remembered). When two-factor is on, changing a Stripe connection asks for a code again unless
one was given in the last RECENT (see `requires_recent_second_factor`).
"""
import functools
import hashlib
import hmac
import json
import logging
import secrets as _random
import time
from datetime import timedelta

import pyotp
import segno
from flask import Response, redirect, request, session, url_for
from flask_login import current_user

from .. import secrets
from ..rendering import wants_fragment

log = logging.getLogger(__name__)
ISSUER = "Envoix"
RECENT = timedelta(minutes=10)
RECOVERY_CODES = 10
_PREFIX = "totp:"  # what is encrypted is "totp:<secret>", the secret alone is shown once on the set-up page


def _secret(ciphertext):
    if not ciphertext:
        return None
    try:
        return secrets.decrypt(ciphertext)[len(_PREFIX):]
    except secrets.UnreadableSecret:
        # A key was removed before `flask secrets rotate`: codes cannot be checked, recovery codes still work.
        log.error("a two-factor secret cannot be decrypted with ENVOIX_ENCRYPTION_KEYS")
        return None


def begin_setup(user):
    """A new secret waiting for its first code; returns it (shown once, with its QR code)."""
    secret = pyotp.random_base32()
    user.totp_pending_encrypted = secrets.encrypt(_PREFIX + secret)
    user.save()
    return secret


def pending_secret(user):
    return _secret(user.totp_pending_encrypted)


def provisioning_uri(user, secret):
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri):
    """The QR code as inline SVG, drawn on the server (no script, no other origin: the CSP allows neither)."""
    return segno.make(uri, error="m").svg_inline(scale=5, border=2, dark="#111", light="#fff")


def _digest(code):
    return hashlib.sha256(code.encode()).hexdigest()


def _normal(code):
    return "".join(ch for ch in (code or "").strip().lower() if ch.isalnum())[:40]


def finish_setup(user, code):
    """Turn two-factor on if `code` matches the pending secret; returns the recovery codes (or None)."""
    secret = pending_secret(user)
    if not secret:
        return None
    step = _matching_step(secret, code, None)
    if step is None:
        return None
    codes = [f"{_random.token_hex(3)}-{_random.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    user.totp_secret_encrypted, user.totp_pending_encrypted = user.totp_pending_encrypted, None
    user.totp_last_step = step
    user.recovery_codes = json.dumps([_digest(_normal(c)) for c in codes])
    user.save()
    return codes


def disable(user):
    user.totp_secret_encrypted = user.totp_pending_encrypted = user.recovery_codes = None
    user.totp_last_step = None
    user.save()


def _matching_step(secret, code, last_step):
    code = _normal(code)
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = int(time.time()) // totp.interval
    for step in (now, now - 1, now + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def check(user, code):
    """"totp" or "recovery" when `code` is a valid second factor for `user` (a recovery code is used up), else None."""
    if not user.totp_secret_encrypted:
        return None
    secret = _secret(user.totp_secret_encrypted)
    step = _matching_step(secret, code, user.totp_last_step) if secret else None
    if step is not None:
        user.totp_last_step = step
        user.save()
        return "totp"
    digests = json.loads(user.recovery_codes or "[]")
    wanted = _digest(_normal(code))
    for digest in digests:
        if hmac.compare_digest(digest, wanted):
            digests.remove(digest)
            user.recovery_codes = json.dumps(digests)
            user.save()
            return "recovery"
    return None


def recovery_codes_left(user):
    return len(json.loads(user.recovery_codes or "[]"))


def mark_fresh():
    session["second_factor_at"] = int(time.time())


def is_fresh():
    return int(time.time()) - int(session.get("second_factor_at") or 0) < RECENT.total_seconds()


def requires_recent_second_factor(view):
    """For routes that change a Stripe connection: with two-factor on, a code from the last 10 minutes first.

    Without one, the user is sent to /settings/two-factor/confirm (htmx: told to go there as a whole page), and
    comes back to the page they started from; nothing of the request is done.
    """

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if current_user.is_authenticated and current_user.two_factor_enabled and not is_fresh():
            back = request.full_path if request.method == "GET" else (request.referrer or url_for("accounts.index"))
            target = url_for("account.confirm_second_factor", next=_local(back))
            if wants_fragment():
                return Response(status=401, headers={"HX-Redirect": target})
            return redirect(target, 303)
        return view(*args, **kwargs)

    return guarded


def _local(url):
    from urllib.parse import urlsplit

    parts = urlsplit(url or "")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return path if path.startswith("/") and not path.startswith("//") else "/accounts"
