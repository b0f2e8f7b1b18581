"""`flask secrets rotate`, run as the operator runs it (a real command in its own process): every stored
credential is re-encrypted with the first of ENVOIX_ENCRYPTION_KEYS, and still reads as the same secret."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from envoix import secrets
from envoix.db import database
from envoix.models import StripeConnection

ROOT = Path(__file__).resolve().parent.parent


def stored_ciphertexts():
    with database.connection_context():
        return [(c.secret_encrypted, c.refresh_token_encrypted) for c in StripeConnection.select().order_by(StripeConnection.id)]


def test_flask_secrets_rotate_reencrypts_every_stored_credential_with_the_new_key(app_with, stripe, tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app = app_with(ENVOIX_ENCRYPTION_KEYS=[old])
    from conftest import Web

    web = Web(app.test_client())
    web.sign_up()
    key = stripe.demo_keys["all"]
    assert web.post("/connect/key", {"api_key": key}, htmx=True).status_code == 200
    (before,) = stored_ciphertexts()
    assert before[0]

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "ENVOIX_", "STRIPE_"))}
    env.update(ENVOIX_ENV="development", ENVOIX_INSTANCE_PATH=str(tmp_path / "cli"), LOG_LEVEL="WARNING",
               DATABASE_URL=app.config["DATABASE_URL"], ENVOIX_ENCRYPTION_KEYS=f"{new},{old}")
    done = subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "secrets", "rotate"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert "re-encrypted the credentials of 1 connections" in done.stdout
    assert key not in done.stdout + done.stderr
    (after,) = stored_ciphertexts()
    assert after[0] != before[0]
    with app.app_context():
        app.config["ENVOIX_ENCRYPTION_KEYS"] = [new]  # the old key retired: only the new one reads them now
        assert secrets.decrypt(after[0]) == key
        with pytest.raises(secrets.UnreadableSecret):
            secrets.decrypt(before[0])
