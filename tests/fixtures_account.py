"""Fixtures of the account area: a real SMTP server on 127.0.0.1 (aiosmtpd) and an app that mails through it."""
import email
import re
import threading
import time
from email import policy

import pytest
from aiosmtpd.controller import Controller

from live_app import free_port


class Inbox:
    """What the test SMTP server received: parsed messages, newest last."""

    def __init__(self):
        self.messages, self.lock = [], threading.Lock()
        self.refuse = 0  # answer this many deliveries with a temporary error (451) first

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.refuse:
                self.refuse -= 1
                return "451 try again later"
            message = email.message_from_bytes(envelope.content, policy=policy.default)
            message.envelope_to = list(envelope.rcpt_tos)
            self.messages.append(message)
        return "250 OK"

    def clear(self):
        with self.lock:
            self.messages.clear()
            self.refuse = 0

    def to(self, address):
        return [m for m in self.messages if address in m.envelope_to]

    def wait_for(self, address, count=1, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.1)
        raise AssertionError(f"no email #{count} to {address} within {timeout} s (got {len(self.to(address))})")


def text_of(message):
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message):
    return message.get_body(preferencelist=("html",)).get_content()


def link_in(message, path):
    found = re.search(r"https?://[^\s\"<>]+" + re.escape(path) + r"[^\s\"<>]+", text_of(message))
    assert found, f"no {path} link in: {text_of(message)}"
    return found.group(0)


@pytest.fixture(scope="session")
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{controller.port}"
    yield inbox
    controller.stop()


@pytest.fixture
def inbox(smtp_server):
    smtp_server.clear()
    return smtp_server


@pytest.fixture
def mail_app(app_with, inbox):
    """The app with SMTP_URL pointing at the test server, and links built from ENVOIX_BASE_URL."""
    return app_with(SMTP_URL=inbox.url, ENVOIX_BASE_URL="http://localhost", MAIL_FROM="Envoix <no-reply@envoix.test>")


@pytest.fixture
def mail_web(mail_app):
    from conftest import Web

    return Web(mail_app.test_client())
