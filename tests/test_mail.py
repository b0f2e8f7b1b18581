"""Envoix's emails reach a real mail server: plain SMTP on 127.0.0.1, STARTTLS when the server offers it, SMTPS,
with the user and password from SMTP_URL; the connection is verified against the server's certificate."""
import datetime
import ipaddress
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import Web
from tests.fixtures_account import Inbox, text_of
from live_app import free_port

# SMTPS is TLS from the first byte, which aiosmtpd's "AUTH without STARTTLS" warning does not know of.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, and the file the client is told to trust (SSL_CERT_FILE)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, str(cert_path)


def authenticator(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=(auth_data.login, auth_data.password) == (b"envoix", b"p@ss word"))


@pytest.fixture(params=["starttls", "smtps"])
def tls_server(request, certificate, monkeypatch):
    context, cert_file = certificate
    monkeypatch.setenv("SSL_CERT_FILE", cert_file)
    inbox = Inbox()
    common = {"hostname": "127.0.0.1", "port": free_port(), "authenticator": authenticator, "auth_required": True}
    if request.param == "starttls":
        controller = Controller(inbox, tls_context=context, require_starttls=True, **common)
        scheme = "smtp"
    else:
        controller = Controller(inbox, ssl_context=context, auth_require_tls=False, **common)
        scheme = "smtps"
    controller.start()
    inbox.url = f"{scheme}://envoix:p%40ss%20word@127.0.0.1:{controller.port}"
    yield inbox
    controller.stop()


def test_mail_goes_through_tls_with_the_login_from_smtp_url(app_with, tls_server):
    app = app_with(SMTP_URL=tls_server.url, ENVOIX_BASE_URL="https://envoix.example")
    Web(app.test_client()).sign_up()
    message = tls_server.wait_for("lena@example.com")
    assert "https://envoix.example/verify/" in text_of(message)


def test_a_server_whose_certificate_is_not_trusted_gets_nothing(app_with, tls_server, monkeypatch, caplog):
    monkeypatch.delenv("SSL_CERT_FILE")
    app = app_with(SMTP_URL=tls_server.url, MAIL_ATTEMPTS=2)
    assert Web(app.test_client()).sign_up().status_code == 302  # signing up does not wait for or fail with mail
    assert tls_server.messages == []
    assert "could not be delivered after 2 attempts" in caplog.text
    assert "p@ss" not in caplog.text and "p%40ss" not in caplog.text


def test_an_unreachable_mail_server_is_retried_and_then_given_up_plainly(app_with, caplog):
    app = app_with(SMTP_URL=f"smtp://127.0.0.1:{free_port()}", MAIL_ATTEMPTS=3)
    assert Web(app.test_client()).sign_up().status_code == 302
    assert "attempt 2 of 3" in caplog.text and "after 3 attempts" in caplog.text
