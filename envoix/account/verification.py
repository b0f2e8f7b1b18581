"""Confirming email addresses: the link sent after sign-up and after a change, and what needs a confirmed one."""
import functools

from flask import Response, current_app, render_template, url_for
from flask_login import current_user
from peewee import IntegrityError

from .. import links, mail
from ..db import database
from ..models import utcnow
from ..rendering import wants_fragment
from . import tokens
from .events import record_event


def send_link(user, email=None):
    """Email a confirmation link for `email` (default: the account's address) to that address."""
    email = email or user.email
    mail.send(email, "verify", user.locale or _language(),
              link=links.absolute_url("account.verify_email", token=tokens.verify_token(user, email)), email=email)


def _language():
    from flask_babel import get_locale

    return str(get_locale() or "de")


def confirm(token):
    """Apply a confirmation link; returns the user, or None when the link is forged, expired or used up."""
    user, email = tokens.check_verify(token)
    if user is None:
        return None
    if email == user.email:
        if not user.email_verified_at:
            user.email_verified_at = utcnow()
            user.save()
            record_event(user, "email-verified")
        return user
    if email != user.pending_email:
        return None
    old = user.email
    try:
        with database.atomic():
            user.email, user.pending_email, user.email_verified_at = email, None, utcnow()
            user.save()
    except IntegrityError:
        return None  # someone took the address since: the link can no longer be used
    record_event(user, "email-changed", old=old, new=email)
    return user


def requires_verified_email(view):
    """With ENVOIX_REQUIRE_VERIFIED_EMAIL on, connecting a Stripe account needs a confirmed address first."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if (current_app.config.get("ENVOIX_REQUIRE_VERIFIED_EMAIL") and current_user.is_authenticated
                and not current_user.email_verified_at):
            if wants_fragment():
                return Response(status=403, headers={"HX-Redirect": url_for("account.verification_needed")})
            return render_template("settings/verification_needed.html"), 403
        return view(*args, **kwargs)

    return guarded


def is_verified(user):
    return bool(user.email_verified_at)

