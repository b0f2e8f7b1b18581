"""Envoix's emails: rendered in the recipient's language (text and HTML), delivered by a background job.

`send(to, "verify", lang, **context)` renders `templates/mail/verify.txt` and `.html`, encrypts the whole
message (it may carry a sign-in link) and queues the `send_email` job. The job delivers through `SMTP_URL`
(`smtp://` with STARTTLS whenever the server offers it, `smtps://` for TLS from the start) and retries a
failure MAIL_ATTEMPTS times, waiting longer each time. Without `SMTP_URL` each email is written to
`instance/outbox/<time>-<id>.eml`, so development and `flask run` need no mail server.
"""
import logging
import os
import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from . import secrets
from .jobs import job

log = logging.getLogger(__name__)
SMTP_TIMEOUT = 20

SUBJECTS = {
    "verify": _l("Please confirm your email address for Envoix"),
    "password_reset": _l("Resetting your Envoix password"),
    "password_changed": _l("Your Envoix password was changed"),
    "email_change_notice": _l("The email address of your Envoix account is being changed"),
    "signup_existing": _l("Someone tried to sign up with your email address"),
    "account_deleted": _l("Your Envoix account has been deleted"),
}


class MailNotConfigured(RuntimeError):
    pass


def send(to, template, lang=None, **context):
    """Queue one email to `to`, rendered from templates/mail/<template>.txt/.html in `lang` (de or en)."""
    return send_built(build(to, template, lang, **context))


def send_built(message):
    """Queue a message made earlier by `build` (e.g. before the data it needed was deleted); False when the queue
    cannot take it (Redis down): what the user did still stands, and the log says the email is missing."""
    try:
        send_email.queue(secrets.encrypt(message.as_string()))
    except Exception as error:  # noqa: BLE001  (the queue's own errors: redis, sqlite)
        log.error("an email (%s) could not be queued: %s", message["Subject"], type(error).__name__)
        return False
    return True


def build(to, template, lang=None, **context):
    lang = lang if lang in ("de", "en") else "de"
    with force_locale(lang):
        subject = str(SUBJECTS[template])
        text = render_template(f"mail/{template}.txt", subject=subject, lang=lang, **context)
        html = render_template(f"mail/{template}.html", subject=subject, lang=lang, **context)
    sender = current_app.config["MAIL_FROM"]
    domain = parseaddr(sender)[1].partition("@")[2] or "localhost"
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=domain)
    message["Content-Language"] = lang
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


@job
def send_email(encrypted_message, attempt=1):
    """Deliver one queued email; on a failure try again later (MAIL_ATTEMPTS in all, doubling the wait)."""
    message = secrets.decrypt(encrypted_message)
    try:
        deliver(message)
    except (smtplib.SMTPException, OSError) as error:
        _try_again(encrypted_message, attempt, error)


def _try_again(encrypted_message, attempt, error):
    config = current_app.config
    if attempt >= config["MAIL_ATTEMPTS"]:
        log.error("an email could not be delivered after %d attempts (%s); giving up", attempt, type(error).__name__)
        return
    delay = config["MAIL_RETRY_SECONDS"] * 2 ** (attempt - 1)
    log.warning("an email could not be delivered (%s); attempt %d of %d again in %.0f s",
                type(error).__name__, attempt + 1, config["MAIL_ATTEMPTS"], delay)
    huey = current_app.extensions["huey"]
    if huey.immediate:  # tests: the queue runs in the caller, so the retry does too, without the wait
        return send_email(encrypted_message, attempt + 1)
    send_email.queue_in(delay, encrypted_message, attempt + 1)


def deliver(message_text):
    """Hand one message (RFC 5322 text) to the mail server, or to the outbox when SMTP_URL is unset."""
    url = current_app.config.get("SMTP_URL")
    if not url:
        return _write_to_outbox(message_text)
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise MailNotConfigured("SMTP_URL must start with smtp:// or smtps://")
    host, port = parts.hostname or "localhost", parts.port or (465 if parts.scheme == "smtps" else 587)
    context = ssl.create_default_context()
    if parts.scheme == "smtps":
        server = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT, context=context)
    else:
        server = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
    with server:
        server.ehlo()
        if parts.scheme == "smtp" and server.has_extn("starttls"):
            server.starttls(context=context)
            server.ehlo()
        if parts.username:
            server.login(unquote(parts.username), unquote(parts.password or ""))
        from email import message_from_string, policy

        server.send_message(message_from_string(message_text, policy=policy.SMTP))


JOBS = (send_email,)


def outbox_path():
    return Path(current_app.instance_path) / "outbox"


def _write_to_outbox(message_text):
    folder = outbox_path()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
    temporary = folder / (name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(message_text)
    temporary.rename(folder / name)
    log.info("no SMTP_URL: email written to the outbox as %s", name)
    return folder / name
