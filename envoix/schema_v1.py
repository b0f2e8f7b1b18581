"""Version 1's tables, frozen: what migration 1 creates, whatever `models.py` says today.

A copy on purpose. Every later change to a table is its own numbered migration in migrations.py, so a database
made by migration 1 and upgraded ends with the tables of models.py only if every migration is there (and
tests/test_migrations.py fails when one is missing). Never edit these classes: add a migration instead."""
from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from .db import database


class _Frozen(Model):
    class Meta:
        database = database
        legacy_table_names = False


class User(_Frozen):
    email = CharField(max_length=254, unique=True)
    password_hash = CharField(max_length=255)
    locale = CharField(max_length=5, null=True)
    created_at = DateTimeField()

    class Meta:
        table_name = "user"


class ThrottleHit(_Frozen):
    bucket = CharField(max_length=300)
    at = DateTimeField()

    class Meta:
        table_name = "throttle_hit"
        indexes = ((("bucket", "at"), False),)


class StripeConnection(_Frozen):
    user = ForeignKeyField(User, on_delete="CASCADE")
    stripe_account_id = CharField(max_length=255, index=True)
    method = CharField(max_length=10)
    livemode = BooleanField()
    status = CharField(max_length=20)
    status_reason = TextField(null=True)
    business_name = CharField(max_length=255, null=True)
    email = CharField(max_length=254, null=True)
    country = CharField(max_length=2, null=True)
    default_currency = CharField(max_length=3, null=True)
    secret_encrypted = TextField(null=True)
    secret_hint = CharField(max_length=40, null=True)
    refresh_token_encrypted = TextField(null=True)
    scope = CharField(max_length=20, null=True)
    connected_at = DateTimeField()
    updated_at = DateTimeField()
    disconnected_at = DateTimeField(null=True)
    last_checked_at = DateTimeField(null=True)

    class Meta:
        table_name = "stripe_connection"
        indexes = ((("user", "stripe_account_id", "livemode", "method"), True),)


class ImportRun(_Frozen):
    connection = ForeignKeyField(StripeConnection, on_delete="CASCADE")
    status = CharField(max_length=20)
    trigger = CharField(max_length=20)
    stage = CharField(max_length=40, null=True)
    stages_done = IntegerField()
    stages_total = IntegerField()
    fetched = IntegerField()
    error = TextField(null=True)
    queued_at = DateTimeField()
    started_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)

    class Meta:
        table_name = "import_run"


class SyncCursor(_Frozen):
    connection = ForeignKeyField(StripeConnection, on_delete="CASCADE")
    object_type = CharField(max_length=40)
    watermark = BigIntegerField(null=True)
    resume_after = CharField(max_length=255, null=True)
    run_newest = BigIntegerField(null=True)

    class Meta:
        table_name = "sync_cursor"
        indexes = ((("connection", "object_type"), True),)


class BalanceTransaction(_Frozen):
    connection = ForeignKeyField(StripeConnection, on_delete="CASCADE")
    stripe_id = CharField(max_length=255)
    type = CharField(max_length=40)
    reporting_category = CharField(max_length=60, null=True)
    amount = BigIntegerField()
    fee = BigIntegerField()
    net = BigIntegerField()
    currency = CharField(max_length=3)
    status = CharField(max_length=20, null=True)
    created = BigIntegerField()
    available_on = BigIntegerField(null=True)
    source_id = CharField(max_length=255, null=True)
    description = TextField(null=True)
    payout_id = CharField(max_length=255, null=True, index=True)

    class Meta:
        table_name = "balance_transaction"
        indexes = ((("connection", "stripe_id"), True), (("connection", "created"), False))


class Payout(_Frozen):
    connection = ForeignKeyField(StripeConnection, on_delete="CASCADE")
    stripe_id = CharField(max_length=255)
    amount = BigIntegerField()
    currency = CharField(max_length=3)
    status = CharField(max_length=20)
    arrival_date = BigIntegerField(null=True)
    created = BigIntegerField()
    automatic = BooleanField()
    balance_transaction_id = CharField(max_length=255, null=True)
    reconciliation = CharField(max_length=20)
    transactions_net = BigIntegerField(null=True)
    difference = BigIntegerField(null=True)
    reconciled_at = DateTimeField(null=True)

    class Meta:
        table_name = "payout"
        indexes = ((("connection", "stripe_id"), True), (("connection", "created"), False))


class Charge(_Frozen):
    connection = ForeignKeyField(StripeConnection, on_delete="CASCADE")
    stripe_id = CharField(max_length=255)
    amount = BigIntegerField()
    amount_refunded = BigIntegerField()
    currency = CharField(max_length=3)
    status = CharField(max_length=20, null=True)
    created = BigIntegerField()
    customer_id = CharField(max_length=255, null=True)
    description = TextField(null=True)
    balance_transaction_id = CharField(max_length=255, null=True)

    class Meta:
        table_name = "charge"
        indexes = ((("connection", "stripe_id"), True),)


class Refund(_Frozen):
    connection = ForeignKeyField(StripeConnection, on_delete="CASCADE")
    stripe_id = CharField(max_length=255)
    amount = BigIntegerField()
    currency = CharField(max_length=3)
    status = CharField(max_length=20, null=True)
    created = BigIntegerField()
    charge_id = CharField(max_length=255, null=True)
    balance_transaction_id = CharField(max_length=255, null=True)

    class Meta:
        table_name = "refund"
        indexes = ((("connection", "stripe_id"), True),)


class WebhookEvent(_Frozen):
    event_id = CharField(max_length=255, unique=True)
    type = CharField(max_length=100)
    account_id = CharField(max_length=255, null=True)
    received_at = DateTimeField()

    class Meta:
        table_name = "webhook_event"


TABLES = [User, ThrottleHit, StripeConnection, ImportRun, SyncCursor, BalanceTransaction, Payout, Charge, Refund,
          WebhookEvent]
