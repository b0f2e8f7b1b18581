"""Set-up and reading steps for the account tests: a Stripe account in the double, connected for Lena
(stored as a StripeConnection row directly: the connect UI has its own tests), and what the pages show."""
import re

from envoix import secrets
from envoix.db import database
from envoix.models import BalanceTransaction, ImportRun, Payout, StripeConnection, SyncCursor


def connect_by_key(app, stripe, user, livemode=False, business_name="Atelier Nord", permissions=None, **seed):
    """A double account (seeded with `seed`, e.g. n_balance_transactions=…) and a restricted key, stored for `user`."""
    account_id = stripe.add_account(business_name=business_name, livemode=livemode, **seed)
    key = stripe.add_restricted_key(account_id, livemode=livemode, permissions=permissions)
    with app.app_context(), database.connection_context():
        connection = StripeConnection.create(
            user=user.id, stripe_account_id=account_id, method="api_key", livemode=livemode,
            business_name=business_name, default_currency="eur", secret_encrypted=secrets.encrypt(key),
            secret_hint=secrets.mask(key),
        )
    return connection, account_id, key


def connect_by_oauth(app, stripe, user, business_name="Hofladen Berger", **seed):
    """A double account connected to the platform (as after the OAuth dance), stored for `user`."""
    account_id = stripe.add_account(business_name=business_name, **seed)
    stripe.connect(account_id)
    with app.app_context(), database.connection_context():
        connection = StripeConnection.create(
            user=user.id, stripe_account_id=account_id, method="oauth", livemode=False,
            business_name=business_name, default_currency="eur", secret_encrypted=secrets.encrypt("sk_test_oauth_token_unused"),
            scope="read_only",
        )
    return connection, account_id


def in_double(stripe, account_id, kind="balance_transaction"):
    return len(stripe.account(account_id).collections[kind])


def imported(connection):
    with database.connection_context():
        return BalanceTransaction.select().where(BalanceTransaction.connection == connection.id).count()


def runs(connection):
    with database.connection_context():
        return list(ImportRun.select().where(ImportRun.connection == connection.id).order_by(ImportRun.id))


def cursor(connection, kind="balance_transactions"):
    with database.connection_context():
        return SyncCursor.get_or_none((SyncCursor.connection == connection.id) & (SyncCursor.object_type == kind))


def payout(connection, stripe_id):
    with database.connection_context():
        return Payout.get((Payout.connection == connection.id) & (Payout.stripe_id == stripe_id))


def reload(connection):
    with database.connection_context():
        return StripeConnection.get_by_id(connection.id)


def markers(page, name):
    """Every value of the attribute data-<name> in the page, in order."""
    return re.findall(rf'data-{name}="([^"]*)"', page)


def rows_with(page, **attributes):
    """The opening tags of the elements carrying all these data-* attributes (values as given)."""
    tags = re.findall(r"<[a-z]+\b[^>]*>", page)
    return [tag for tag in tags if all(f'data-{name.replace("_", "-")}="{value}"' in tag for name, value in attributes.items())]


def list_requests(stripe, since=0, path="/v1/balance_transactions"):
    return [r for r in stripe.requests[since:] if r["path"] == path]
