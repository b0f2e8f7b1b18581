"""The tables: users, their Stripe connections, import state, imported Stripe objects, and bookkeeping."""
from datetime import datetime, timezone

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    CompositeKey,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from .db import database


def utcnow():
    # Naive UTC: SQLite and PostgreSQL `timestamp` columns then compare the same way.
    return datetime.now(timezone.utc).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class User(BaseModel):
    email = CharField(max_length=254, unique=True)
    password_hash = CharField(max_length=255)
    locale = CharField(max_length=5, null=True)
    created_at = DateTimeField(default=utcnow)
    # Account security (migration 40): a confirmed address, an address waiting for confirmation after a change,
    # and two-factor sign-in (the TOTP secret as Fernet ciphertext, recovery codes as SHA-256 digests, JSON list).
    email_verified_at = DateTimeField(null=True)
    pending_email = CharField(max_length=254, null=True)
    totp_secret_encrypted = TextField(null=True)
    totp_pending_encrypted = TextField(null=True)
    totp_last_step = BigIntegerField(null=True)
    recovery_codes = TextField(null=True)

    # flask-login's protocol
    is_active = True
    is_authenticated = True
    is_anonymous = False

    # The server-side session this request signed in with (auth/sessions.py); part of the id flask-login keeps in the
    # session and the remember-me cookie, so deleting the session row ends both.
    login_key = None

    def get_id(self):
        return f"{self.id}:{self.login_key}" if self.login_key else str(self.id)

    @property
    def two_factor_enabled(self):
        return bool(self.totp_secret_encrypted)


class UserSession(BaseModel):
    """One signed-in browser (migration 41): deleted at logout, by a password change and by "sign out everywhere"."""

    user = ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    key_hash = CharField(max_length=64, unique=True)  # SHA-256 of the random key the cookies carry
    remember = BooleanField(default=False)
    user_agent = CharField(max_length=200, null=True)
    created_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()


class AccountEvent(BaseModel):
    """What happened to an account, shown to its user on /settings (migration 42); kept 90 days (README)."""

    user = ForeignKeyField(User, backref="events", on_delete="CASCADE")
    kind = CharField(max_length=40)
    details = TextField(null=True)  # JSON; never a secret
    at = DateTimeField(default=utcnow, index=True)


class ThrottleHit(BaseModel):
    """One counted attempt (failed login, key validation) in a named bucket; shared by all processes."""

    bucket = CharField(max_length=300)
    at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("bucket", "at"), False),)


class StripeConnection(BaseModel):
    """A user's link to one Stripe account in one mode, by OAuth or by restricted key."""

    METHODS = ("oauth", "api_key")
    STATUSES = ("active", "revoked", "disconnected", "needs-attention")

    user = ForeignKeyField(User, backref="connections", on_delete="CASCADE")
    stripe_account_id = CharField(max_length=255, index=True)
    method = CharField(max_length=10)
    livemode = BooleanField()
    status = CharField(max_length=20, default="active")
    status_reason = TextField(null=True)  # no longer written (migration 10 replaced it with the two below)
    # Why the connection is not simply active: a lifecycle.Cause value; and the rak_… names a key lacks.
    status_code = CharField(max_length=40, null=True)
    missing_permissions = TextField(null=True)  # space-separated
    # OAuth only: "app" (Stripe App OAuth 2.0, rolling tokens) or "connect" (legacy Connect OAuth); migration 10.
    oauth_kind = CharField(max_length=10, null=True)
    access_expires_at = DateTimeField(null=True)  # Stripe App access tokens live one hour
    business_name = CharField(max_length=255, null=True)
    email = CharField(max_length=254, null=True)
    country = CharField(max_length=2, null=True)
    default_currency = CharField(max_length=3, null=True)
    # The restricted key or the OAuth access token: Fernet ciphertext only (see secrets.py).
    secret_encrypted = TextField(null=True)
    secret_hint = CharField(max_length=40, null=True)
    refresh_token_encrypted = TextField(null=True)
    scope = CharField(max_length=20, null=True)
    connected_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    disconnected_at = DateTimeField(null=True)
    last_checked_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("user", "stripe_account_id", "livemode", "method"), True),)


class AccountOwner(BaseModel):
    """Which Envoix user holds a Stripe account: one owner per account, enforced by the unique column (migration 11).

    Claimed inside store_connection's transaction; a holder without any active connection left is replaced."""

    stripe_account_id = CharField(max_length=255, unique=True)
    user = ForeignKeyField(User, on_delete="CASCADE")
    claimed_at = DateTimeField(default=utcnow)


class PendingInstall(BaseModel):
    """A Stripe App install that started on Stripe's Marketplace listing, kept until the person signs in (migration 12).

    The token answer is Fernet ciphertext; the browser holds only `reference` in a cookie."""

    reference = CharField(max_length=64, unique=True)
    stripe_account_id = CharField(max_length=255)
    tokens_encrypted = TextField()
    created_at = DateTimeField(default=utcnow)


class ImportRun(BaseModel):
    """One run of the background import for a connection: what the progress bar and outcome show."""

    STATUSES = ("queued", "running", "retrying", "done", "failed")
    ACTIVE = ("queued", "running", "retrying")

    connection = ForeignKeyField(StripeConnection, backref="import_runs", on_delete="CASCADE")
    status = CharField(max_length=20, default="queued")
    trigger = CharField(max_length=20, default="manual")
    stage = CharField(max_length=40, null=True)
    stages_done = IntegerField(default=0)
    stages_total = IntegerField(default=0)
    fetched = IntegerField(default=0)
    error = TextField(null=True)
    queued_at = DateTimeField(default=utcnow)
    started_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)
    # Objects stored for the first time by this run (fetched counts re-reads too); migration 3.
    added = IntegerField(default=0)
    # Touched after every committed page: a run whose worker died stops blocking the next one (migration 3).
    heartbeat_at = DateTimeField(null=True)
    # The worker holding the run (a token written when it claims it): progress writes check it (migration 30).
    owner = CharField(max_length=40, null=True)
    # When its job went into the queue; None while the queue could not be reached (the sweeper queues it).
    enqueued_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("connection", "queued_at"), False),)  # the newest run of each connection (migration 2)


# At most one queued or running import per connection, enforced by the database (migration 3).
ImportRun.add_index(ImportRun.index(
    ImportRun.connection, unique=True, where=ImportRun.status.in_(ImportRun.ACTIVE),
    name="import_run_one_active_per_connection",
))


class SyncCursor(BaseModel):
    """Where the import of one object type stands, so runs are incremental and a killed run resumes."""

    connection = ForeignKeyField(StripeConnection, backref="cursors", on_delete="CASCADE")
    object_type = CharField(max_length=40)
    # Newest `created` fully imported by a finished run: the next run asks for created >= this.
    watermark = BigIntegerField(null=True)
    # Inside an unfinished run: the last committed object's id and the newest `created` seen so far.
    resume_after = CharField(max_length=255, null=True)
    run_newest = BigIntegerField(null=True)

    class Meta:
        indexes = ((("connection", "object_type"), True),)


class ImportStream(BaseModel):
    """One stream of an unfinished import: a list, or a `created` range of it, read page by page (migration 31).

    Several streams of a connection are read at the same time; each commits its own cursor with its pages, so
    a run killed at any point resumes every stream after its last stored page. When every stream of a list is
    done, the list's SyncCursor.watermark moves to the newest `created` they saw and the streams are deleted.
    """

    connection = ForeignKeyField(StripeConnection, backref="import_streams", on_delete="CASCADE")
    object_type = CharField(max_length=40)
    created_gte = BigIntegerField(null=True)
    created_lt = BigIntegerField(null=True)
    resume_after = CharField(max_length=255, null=True)
    newest = BigIntegerField(null=True)
    # `created` of the last stored object: where the rest of the range ends (it is read newest first).
    position = BigIntegerField(null=True)
    done = BooleanField(default=False)

    class Meta:
        indexes = ((("connection", "object_type"), False),)


class BalanceTransaction(BaseModel):
    connection = ForeignKeyField(StripeConnection, backref="balance_transactions", on_delete="CASCADE")
    stripe_id = CharField(max_length=255)
    # Stripe's enums are open (new values appear with new API versions): text, never a length (migration 20).
    type = TextField()
    reporting_category = TextField(null=True)
    amount = BigIntegerField()
    fee = BigIntegerField()
    net = BigIntegerField()
    currency = CharField(max_length=3)
    status = TextField(null=True)
    balance_type = TextField(null=True)  # migration 21
    created = BigIntegerField()
    available_on = BigIntegerField(null=True)
    source_id = CharField(max_length=255, null=True)
    description = TextField(null=True)
    payout_id = CharField(max_length=255, null=True, index=True)

    class Meta:
        indexes = ((("connection", "stripe_id"), True), (("connection", "created"), False))


class Payout(BaseModel):
    RECONCILIATION = ("reconciled", "mismatch", "waiting", "manual", "failed")  # see sync/reconciliation.py

    connection = ForeignKeyField(StripeConnection, backref="payouts", on_delete="CASCADE")
    stripe_id = CharField(max_length=255)
    amount = BigIntegerField()
    currency = CharField(max_length=3)
    status = TextField()
    arrival_date = BigIntegerField(null=True)
    created = BigIntegerField()
    automatic = BooleanField(default=True)
    balance_transaction_id = CharField(max_length=255, null=True)
    reconciliation = CharField(max_length=20, default="waiting")
    transactions_net = BigIntegerField(null=True)
    difference = BigIntegerField(null=True)
    reconciled_at = DateTimeField(null=True)
    # Migration 21: Stripe's itemisation state, why it failed, and when its transactions were last read.
    reconciliation_status = TextField(null=True)
    failure_code = TextField(null=True)
    failure_message = TextField(null=True)
    failure_balance_transaction_id = CharField(max_length=255, null=True)
    original_payout_id = CharField(max_length=255, null=True)
    reversed_by_id = CharField(max_length=255, null=True)
    itemised_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("connection", "stripe_id"), True), (("connection", "created"), False))


class Charge(BaseModel):
    connection = ForeignKeyField(StripeConnection, backref="charges", on_delete="CASCADE")
    stripe_id = CharField(max_length=255)
    amount = BigIntegerField()
    amount_refunded = BigIntegerField(default=0)
    currency = CharField(max_length=3)
    status = TextField(null=True)  # migration 20
    created = BigIntegerField()
    customer_id = CharField(max_length=255, null=True)
    description = TextField(null=True)
    balance_transaction_id = CharField(max_length=255, null=True)
    # Migration 21: who paid (the expanded customer: rak_customer_read) and the PaymentIntent an invoice names.
    customer_name = TextField(null=True)
    customer_email = TextField(null=True)
    payment_intent_id = CharField(max_length=255, null=True)

    class Meta:
        indexes = ((("connection", "stripe_id"), True),)


class Invoice(BaseModel):
    """An invoice with the payment it was paid by: its number goes into the exports (rak_invoice_read)."""

    connection = ForeignKeyField(StripeConnection, backref="invoices", on_delete="CASCADE")
    stripe_id = CharField(max_length=255)
    number = TextField(null=True)
    customer_id = CharField(max_length=255, null=True)
    customer_name = TextField(null=True)
    customer_email = TextField(null=True)
    charge_id = CharField(max_length=255, null=True, index=True)
    payment_intent_id = CharField(max_length=255, null=True)
    amount_paid = BigIntegerField(default=0)
    currency = CharField(max_length=3)
    status = TextField(null=True)
    created = BigIntegerField()

    class Meta:
        indexes = ((("connection", "stripe_id"), True),)


class Dispute(BaseModel):
    """A chargeback: why and how it stands, shown beside its balance transactions (rak_dispute_read)."""

    connection = ForeignKeyField(StripeConnection, backref="disputes", on_delete="CASCADE")
    stripe_id = CharField(max_length=255)
    charge_id = CharField(max_length=255, null=True)
    amount = BigIntegerField()
    currency = CharField(max_length=3)
    reason = TextField(null=True)
    status = TextField(null=True)
    created = BigIntegerField()

    class Meta:
        indexes = ((("connection", "stripe_id"), True),)


class UnreadableObject(BaseModel):
    """A Stripe object the import could not read (kept aside, so it never blocks the rest), and why."""

    connection = ForeignKeyField(StripeConnection, backref="unreadable_objects", on_delete="CASCADE")
    object_type = CharField(max_length=40)  # the list it came from: balance_transactions, payouts, …
    stripe_id = CharField(max_length=255)  # "" when even the id could not be read
    reason = TextField()
    seen_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("connection", "object_type", "stripe_id"), True),)


class BookkeepingSettings(BaseModel):
    """A user's DATEV numbers and accounts; unset accounts take their chart's default (bookkeeping/accounts.py)."""

    user = ForeignKeyField(User, backref="bookkeeping", on_delete="CASCADE", unique=True)
    chart = CharField(max_length=5, default="SKR03")
    adviser_number = IntegerField(null=True)  # Beraternummer
    client_number = IntegerField(null=True)  # Mandantennummer
    fiscal_year_start_month = IntegerField(default=1)
    account_length = IntegerField(default=4)
    clearing_account = IntegerField(null=True)
    revenue_account = IntegerField(null=True)
    fees_account = IntegerField(null=True)
    refunds_account = IntegerField(null=True)
    disputes_account = IntegerField(null=True)
    transit_account = IntegerField(null=True)
    other_account = IntegerField(null=True)
    updated_at = DateTimeField(default=utcnow)


class Refund(BaseModel):
    connection = ForeignKeyField(StripeConnection, backref="refunds", on_delete="CASCADE")
    stripe_id = CharField(max_length=255)
    amount = BigIntegerField()
    currency = CharField(max_length=3)
    status = TextField(null=True)  # migration 20
    created = BigIntegerField()
    charge_id = CharField(max_length=255, null=True)
    balance_transaction_id = CharField(max_length=255, null=True)

    class Meta:
        indexes = ((("connection", "stripe_id"), True),)


class WebhookEvent(BaseModel):
    """Stripe event ids already handled: Stripe may deliver an event twice."""

    event_id = CharField(max_length=255, unique=True)
    type = CharField(max_length=100)
    account_id = CharField(max_length=255, null=True)
    received_at = DateTimeField(default=utcnow)


class TransactionTally(BaseModel):
    """How many balance transactions are stored per connection, for the account cards (counting them on every
    page view cost more than the rest of its queries): the sum of a connection's rows. Kept by the database
    itself, so it is always exact whoever writes: triggers on balance_transaction count every insert and delete
    (migration 60). On PostgreSQL each writing transaction adds to a row of its own (`shard` = its transaction id),
    so imports storing pages side by side never wait for one another on a shared counter; SQLite has one writer
    at a time and one row (shard 0) per connection."""

    connection = ForeignKeyField(StripeConnection, backref="transaction_tally", on_delete="CASCADE")
    shard = BigIntegerField(default=0)
    stored = BigIntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("connection", "shard")


ALL_MODELS = [
    User,
    ThrottleHit,
    StripeConnection,
    ImportRun,
    SyncCursor,
    ImportStream,
    BalanceTransaction,
    Payout,
    Charge,
    Refund,
    WebhookEvent,
    UserSession,
    AccountEvent,
    AccountOwner,
    PendingInstall,
    Invoice,
    Dispute,
    UnreadableObject,
    BookkeepingSettings,
    TransactionTally,
]
