"""Setting up the Stripe App: the manifest agrees with the permissions table, and the settings it needs."""
import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from envoix import create_app
from envoix.config import ConfigError, from_environment
from envoix.connect import manifest
from envoix.permissions import REQUIRED_PERMISSIONS, app_permissions

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_manifest_is_the_one_the_permissions_table_makes(app):
    committed = json.loads((ROOT / "stripe-app.json").read_text())

    with app.app_context():
        built = manifest.build()

    assert committed == built
    assert committed["stripe_api_access_type"] == "oauth" and committed["distribution_type"] == "public"
    assert committed["allowed_redirect_uris"][0].endswith("/connect/oauth/callback")


def test_the_manifest_asks_for_exactly_the_reads_the_key_check_probes_plus_the_install_events(app):
    names = [item["permission"] for item in json.loads((ROOT / "stripe-app.json").read_text())["permissions"]]

    assert len(names) == len(set(names)) and "event_read" in names
    assert not any(name.startswith("rak_") for name in names)
    expected = {p.name.removeprefix("rak_") for p in REQUIRED_PERMISSIONS} - {"refund_read", "accounts_kyc_basic_read"}
    assert set(names) == expected | {"charge_read", "connected_account_read", "event_read"}
    with app.test_request_context():
        assert all(str(purpose) for _, purpose in app_permissions())


def production(**extra):
    return {"ENVOIX_ENV": "production", "SECRET_KEY": "k" * 48,
            "ENVOIX_ENCRYPTION_KEYS": Fernet.generate_key().decode(), **extra}


def test_production_refuses_to_start_without_envoix_base_url(tmp_path):
    with pytest.raises(ConfigError, match="ENVOIX_BASE_URL"):
        from_environment(str(tmp_path), production())
    with pytest.raises(ConfigError, match="ENVOIX_BASE_URL"):
        from_environment(str(tmp_path), production(ENVOIX_BASE_URL="https://envoix.example/some/path"))
    assert from_environment(str(tmp_path), production(ENVOIX_BASE_URL="https://envoix.example/"))[
        "ENVOIX_BASE_URL"] == "https://envoix.example"


def test_the_defaults_are_the_stripe_app_and_no_trusted_proxy(tmp_path):
    config = from_environment(str(tmp_path), {})

    assert config["STRIPE_OAUTH_KIND"] == "app" and config["ENVOIX_TRUSTED_PROXIES"] == 0
    assert config["STRIPE_MARKETPLACE_BASE"] == "https://marketplace.stripe.com"
    assert config["STRIPE_OAUTH_SCOPE"] == "read_write"
    with pytest.raises(ConfigError):
        from_environment(str(tmp_path), {"STRIPE_OAUTH_KIND": "extension"})
    with pytest.raises(ConfigError):
        from_environment(str(tmp_path), {"ENVOIX_TRUSTED_PROXIES": "-1"})


def test_app_json_trusts_herokus_router_and_asks_for_the_base_url():
    env = json.loads((ROOT / "app.json").read_text())["env"]

    assert env["ENVOIX_TRUSTED_PROXIES"]["value"] == "1" and env["ENVOIX_BASE_URL"]["required"] is True
    assert env["STRIPE_OAUTH_KIND"]["value"] == "app"


def test_forwarded_headers_are_believed_only_from_a_trusted_proxy(tmp_path):
    def remote_addr(proxies):
        app = create_app({"TESTING": True, "ENVOIX_TRUSTED_PROXIES": proxies,
                          "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"},
                         environ={"ENVOIX_ENV": "development"}, instance_path=str(tmp_path / "instance"))
        seen = {}

        @app.route("/_whoami")
        def whoami():
            from flask import request
            seen["addr"], seen["scheme"] = request.remote_addr, request.scheme
            return ""

        app.test_client().get("/_whoami", headers={"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"},
                              environ_base={"REMOTE_ADDR": "10.0.0.1"})
        return seen["addr"], seen["scheme"]

    assert remote_addr(0) == ("10.0.0.1", "http")
    assert remote_addr(1) == ("203.0.113.5", "https")
