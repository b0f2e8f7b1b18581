"""Deterministic, consistent account activity: charges, refunds, disputes, fees, and the payouts that settle them."""
import gc

from .objects import (ApplicationFee, BalanceTransaction, Charge, Customer, Dispute, Invoice, Payout, Refund,
                      new_id)
from .state import ALL_READ_PERMISSIONS

DAY = 86400
FIRST_NAMES = ("Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Jonas", "Lena", "Marie",
               "Noah", "Paul", "Sophie", "Tim", "Zoe")
LAST_NAMES = ("Becker", "Fischer", "Hoffmann", "Klein", "Koch", "Meyer", "Richter", "Schmidt", "Schneider",
              "Schulz", "Wagner", "Weber", "Wolf", "Zimmermann")
PAYOUT_DELAY = 2 * DAY  # funds become available, and payouts arrive, two days after the day they start


def midnight(timestamp):
    return timestamp - timestamp % DAY


class Activity:
    """Writes one account's history in time order, one balance transaction per step, all from the account's rng."""

    def __init__(self, account, clock, start):
        self.account, self.clock, self.rng = account, clock, account.rng
        self.t = start
        self.records = []
        self.transactions = []
        self.customers = list(account.collections["customer"].by_id.values())
        self.emails = {c.id: c.email for c in self.customers}
        self.recent_charges = []  # candidates for refunds and disputes
        self.sequence = len(account.collections["charge"]) + 1000

    def write(self, n, gap, kinds="mixed", pending=None, end=None):
        """Add n steps, on average `gap` seconds apart (the last at `end`, if given).

        `pending=None` decides by available_on against the clock, as Stripe's own status would.
        """
        gaps = [self.rng.randint(1, max(1, 2 * gap)) for _ in range(n)]
        if end is not None:
            self.t = end - sum(gaps)
        for i, step in enumerate(gaps):
            self.t += step
            roll = self.rng.random() if kinds == "mixed" and i else 0.0
            if roll < 0.88 or not self.recent_charges:
                self.charge()
            elif roll < 0.95:
                self.refund()
            elif roll < 0.97:
                self.dispute()
            else:
                self.stripe_fee()
            if pending is not None:
                self.transactions[-1].pending = pending
        return self

    def add_customers(self, n):
        for _ in range(n):
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            customer = Customer(id=new_id("cus", self.rng, 14), created=self.t - self.rng.randint(DAY, 90 * DAY),
                                email=f"{first}.{last}{self.rng.randint(1, 999)}@example.com".lower(),
                                name=f"{first} {last}", currency=self.account.default_currency)
            self.customers.append(customer)
            self.emails[customer.id] = customer.email
            self.records.append(customer)

    def _transaction(self, type, amount, source, description, stripe_fee=0, application_fee=0):
        available_on = midnight(self.t) + PAYOUT_DELAY
        txn = BalanceTransaction(
            id=new_id("txn", self.rng), created=self.t, amount=amount, stripe_fee=stripe_fee,
            application_fee=application_fee, currency=self.account.default_currency, available_on=available_on,
            type=type, source=source, description=description, pending=available_on > self.clock, payout=None)
        self.transactions.append(txn)
        return txn

    def charge(self):
        rng, currency = self.rng, self.account.default_currency
        self.sequence += 1
        amount = rng.randint(5, 250) * 100 + rng.choice((0, 0, 50, 90, 95, 99))
        charge = Charge(id=new_id("ch", rng), created=self.t, amount=amount, amount_refunded=0, currency=currency,
                        balance_transaction=None, customer=None, description=f"Order #{self.sequence}",
                        invoice=None, application_fee=None, application_fee_amount=None, disputed=False)
        if self.customers and rng.random() < 0.8:
            charge.customer = rng.choice(self.customers).id
        if self.sequence % 10 == 0:  # a platform takes 1% of every tenth payment
            charge.application_fee_amount = max(1, amount // 100)
            fee = ApplicationFee(id=new_id("fee", rng), created=self.t, amount=charge.application_fee_amount,
                                 charge=charge.id, currency=currency, account=self.account.id,
                                 application="ca_envoixdemoapplication")
            charge.application_fee = fee.id
            self.records.append(fee)
        if charge.customer and self.sequence % 5 == 0:
            invoice = Invoice(id=new_id("in", rng), created=self.t, customer=charge.customer,
                              customer_email=self.emails[charge.customer], charge=charge.id,
                              number=f"{self.account.id[5:13].upper()}-{self.sequence:05d}", amount=amount,
                              currency=currency)
            charge.invoice = invoice.id
            self.records.append(invoice)
        txn = self._transaction("charge", amount, charge.id, charge.description,
                                stripe_fee=round(amount * 0.015) + 25,
                                application_fee=charge.application_fee_amount or 0)
        charge.balance_transaction = txn.id
        self.records.append(charge)
        self.recent_charges = (self.recent_charges + [charge])[-50:]

    def refund(self):
        charge = self.rng.choice(self.recent_charges)
        self.recent_charges.remove(charge)
        left = charge.amount - charge.amount_refunded
        amount = left if self.rng.random() < 0.7 else max(1, left // 2)
        refund = Refund(id=new_id("re", self.rng), created=self.t, amount=amount, charge=charge.id,
                        balance_transaction=None, currency=charge.currency)
        refund.balance_transaction = self._transaction("refund", -amount, refund.id, "REFUND FOR CHARGE").id
        charge.amount_refunded += amount
        self.records.append(refund)

    def dispute(self):
        charge = self.rng.choice(self.recent_charges)
        self.recent_charges.remove(charge)
        dispute = Dispute(id=new_id("du", self.rng), created=self.t, amount=charge.amount, charge=charge.id,
                          currency=charge.currency, reason=self.rng.choice(("fraudulent", "product_not_received")),
                          status=self.rng.choice(("lost", "needs_response", "under_review")), balance_transactions=())
        txn = self._transaction("adjustment", -charge.amount, dispute.id, f"Chargeback withdrawal for {charge.id}",
                                stripe_fee=2000)
        dispute.balance_transactions = (txn.id,)
        charge.disputed = True
        self.records.append(dispute)

    def stripe_fee(self):
        self._transaction("stripe_fee", -self.rng.randint(100, 2500), None, "Billing - Usage Fee")

    def settle(self, transactions, created, mismatch_cents=0):
        """A payout of exactly these transactions' net (plus any mismatch), and its own transaction."""
        amount = sum(t.net for t in transactions) + mismatch_cents
        arrival = midnight(created) + PAYOUT_DELAY
        payout = Payout(id=new_id("po", self.rng), created=created, amount=amount,
                        currency=self.account.default_currency, arrival_date=arrival,
                        status="paid" if arrival <= self.clock else "in_transit", balance_transaction=None,
                        destination=self.account.bank_account)
        for txn in transactions:
            txn.payout = payout.id
        own = BalanceTransaction(
            id=new_id("txn", self.rng), created=created, amount=-amount, stripe_fee=0, application_fee=0,
            currency=payout.currency, available_on=created, type="payout", source=payout.id,
            description="STRIPE PAYOUT", pending=False, payout=payout.id)
        payout.balance_transaction = own.id
        self.transactions.append(own)
        self.records.append(payout)
        return payout

    def save(self):
        self.account.extend(self.records + self.transactions)
        self.records, self.transactions = [], []


def seed_activity(account, clock, n_balance_transactions, n_payouts=0, n_customers=None, mismatch_cents=0):
    """Fill a fresh account with n activity transactions ending near `clock`, the older ones paid out.

    The payouts' own transactions come on top of the n. With `mismatch_cents`, the oldest payout is off by that much.
    """
    # Tens of thousands of new objects would set off the cyclic GC again and again, for nothing to collect.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        _seed(account, clock, n_balance_transactions, n_payouts, n_customers, mismatch_cents)
    finally:
        if was_enabled:
            gc.enable()


def _seed(account, clock, n, n_payouts, n_customers, mismatch_cents):
    gap = min(6 * 3600, max(60, 90 * DAY // max(n, 1)))
    activity = Activity(account, clock, start=clock - n * gap)
    activity.add_customers(max(3, min(n // 10, 2000)) if n_customers is None else n_customers)
    activity.write(n, gap, end=clock - activity.rng.randint(600, 3 * 3600))
    if n_payouts:
        _pay_out(activity, n_payouts, mismatch_cents)
    activity.save()


def _pay_out(activity, n_payouts, mismatch_cents):
    # Like Stripe's automatic payouts: each settles what became available since the last one, oldest first.
    available = [t for t in activity.transactions if not t.pending]
    settle = available[: len(available) * 9 // 10]
    size = max(1, len(settle) // n_payouts)
    chunks = [settle[i * size:(i + 1) * size] for i in range(n_payouts - 1)] + [settle[(n_payouts - 1) * size:]]
    carried, made = [], 0
    for chunk in chunks:
        chunk = carried + chunk
        if not chunk or sum(t.net for t in chunk) <= 0:  # never a payout of nothing or less: wait for more
            carried = chunk
            continue
        created = min(activity.clock, max(t.available_on for t in chunk) + activity.rng.randint(3600, 6 * 3600))
        activity.settle(chunk, created, 0 if made else mismatch_cents)
        carried, made = [], made + 1


def add_balance_transactions(account, clock, n):
    """n newer activity transactions (pending, unsettled): what an incremental import finds next."""
    activity = Activity(account, clock, start=_latest(account))
    activity.write(n, gap=600)
    added = [t.id for t in activity.transactions]
    activity.save()
    return added


def add_payout_with_transactions(account, clock, n_transactions, mismatch_cents=0):
    """n new charges and a payout that settles exactly them (or misses by mismatch_cents)."""
    activity = Activity(account, clock, start=_latest(account))
    activity.write(n_transactions, gap=600, kinds="charges", pending=False)
    settled = list(activity.transactions)
    for txn in settled:
        txn.available_on = txn.created  # already available, as it must be for a payout to take it
    payout = activity.settle(settled, activity.t + 3600, mismatch_cents)
    payout.status = "paid"
    activity.save()
    return payout.id


def _latest(account):
    newest = account.collections["balance_transaction"].newest()
    return newest.created if newest else account.created


def seed_demo(state):
    """The demo world: a platform, an OAuth account, an account with restricted keys; same ids every run."""
    platform = state.add_account(business_name="Envoix Demo Platform", email="platform@envoix.example")
    state.platform_account_id = platform.id
    state.platform_secret_key = state.issue_key(platform.id, "platform", livemode=False)
    seed_activity(platform, state.clock, 20, n_payouts=1)

    bakery = state.add_account(business_name="Bäckerei Müller GmbH", email="buchhaltung@baeckerei-mueller.example",
                               country="DE", default_currency="eur")
    seed_activity(bakery, state.clock, 300, n_payouts=6, mismatch_cents=1)
    state.demo_oauth_account = bakery.id

    atelier = state.add_account(business_name="Atelier Sonnenschein", email="hallo@atelier-sonnenschein.example",
                                country="DE", default_currency="eur")
    seed_activity(atelier, state.clock, 250, n_payouts=5)
    without_payouts = [p for p in ALL_READ_PERMISSIONS if p != "rak_payout_read"]
    state.demo_keys = {
        "all": state.issue_key(atelier.id, "restricted", False, ALL_READ_PERMISSIONS),
        "all_live": state.issue_key(atelier.id, "restricted", True, ALL_READ_PERMISSIONS),
        "missing_payout": state.issue_key(atelier.id, "restricted", False, without_payouts),
        "revoked": state.issue_key(atelier.id, "restricted", False, ALL_READ_PERMISSIONS, status="revoked"),
        "expired": state.issue_key(atelier.id, "restricted", False, ALL_READ_PERMISSIONS, status="expired"),
    }
    state.demo_key_account = atelier.id
