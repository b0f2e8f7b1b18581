"""Migrations 10-12: reasons written as English text become the structured status fields once."""
from test_migrations import reset

from envoix import migrations
from envoix.db import database
from envoix.models import AccountOwner, StripeConnection, User


def test_old_reason_texts_become_status_codes_and_missing_permissions_and_owners_are_claimed(app):
    with database.connection_context():
        reset()
        migrations.upgrade(target=3)
        user = User.create(email="lena@example.com", password_hash="x")
        rows = {
            "needs-attention": "The key lacks the permissions rak_payout_read, rak_charge_read.",
            "revoked": "Access was removed on Stripe's side (account.application.deauthorized).",
        }
        for n, (status, reason) in enumerate(rows.items()):
            database.execute_sql(
                "INSERT INTO stripe_connection (user_id, stripe_account_id, method, livemode, status, status_reason, "
                "connected_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)".replace(
                    "?", "%s" if not migrations.is_sqlite() else "?"),
                (user.id, f"acct_{n}", "api_key" if n == 0 else "oauth", False, status, reason))

        assert migrations.upgrade() == [v for v, _, _ in migrations.MIGRATIONS if v > 3]

        key, oauth = StripeConnection.select().order_by(StripeConnection.id)
        assert key.status_code == "permissions-missing" and key.missing_permissions == "rak_payout_read rak_charge_read"
        assert oauth.status_code == "deauthorized" and oauth.oauth_kind == "connect"
        assert [o.stripe_account_id for o in AccountOwner.select()] == ["acct_0"]
