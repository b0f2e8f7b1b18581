"""Deterministic, consistent account activity: charges, refunds, disputes, fees, and the payouts that settle them."""
import gc

from .objects import (TYPES, ApplicationFee, BalanceTransaction, Charge, Customer, Dispute, Invoice, Payout, Refund,
                      new_id, reporting_category)
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

    def _transaction(self, type, amount, source, description, stripe_fee=0, application_fee=0, currency=None,
                     category=None):
        available_on = midnight(self.t) + PAYOUT_DELAY
        txn = BalanceTransaction(
            id=new_id("txn", self.rng), created=self.t, amount=amount, stripe_fee=stripe_fee,
            application_fee=application_fee, currency=currency or self.account.default_currency,
            available_on=available_on, type=type, source=source, description=description,
            pending=available_on > self.clock, payout=None, category=category)
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

    def settle(self, transactions, created, mismatch_cents=0, currency=None, automatic=True):
        """A payout of exactly these transactions' net (plus any mismatch), and its own transaction."""
        amount = sum(t.net for t in transactions) + mismatch_cents
        arrival = midnight(created) + PAYOUT_DELAY
        payout = Payout(id=new_id("po", self.rng), created=created, amount=amount,
                        currency=currency or self.account.default_currency, arrival_date=arrival,
                        status="paid" if arrival <= self.clock else "in_transit", balance_transaction=None,
                        destination=self.account.bank_account, automatic=automatic,
                        reconciliation_status="completed" if automatic else "not_applicable")
        for txn in transactions:
            txn.payout = payout.id if automatic else None  # Stripe cannot say what a manual payout took
        own = BalanceTransaction(
            id=new_id("txn", self.rng), created=created, amount=-amount, stripe_fee=0, application_fee=0,
            currency=payout.currency, available_on=created, type="payout", source=payout.id,
            description="STRIPE PAYOUT", pending=False, payout=payout.id if automatic else None)
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


def add_payout_with_transactions(account, clock, n_transactions, mismatch_cents=0, status="paid", automatic=True,
                                 reconciliation_status="completed", currency=None, types=None, refunds=0):
    """n new charges (and `refunds` refunds, one transaction of each of `types`) and a payout that settles
    exactly them (or misses by mismatch_cents). `reconciliation_status="in_progress"`: Stripe lists only
    the older half under ?payout= until `complete_itemisation`."""
    activity = Activity(account, clock, start=_latest(account))
    activity.write(n_transactions, gap=600, kinds="charges", pending=False)
    for _ in range(refunds):
        activity.t += 600
        activity.refund()
    for name in types or ():
        activity.t += 60
        activity.of_type(name)
    settled = list(activity.transactions)
    for txn in settled:
        txn.available_on = txn.created  # already available, as it must be for a payout to take it
        txn.pending = False
        if currency:
            txn.currency = currency
    payout = activity.settle(settled, activity.t + 3600, mismatch_cents, currency, automatic)
    payout.status = status
    if automatic and status == "paid" and reconciliation_status == "in_progress":
        payout.reconciliation_status = "in_progress"
        later = tuple(t for t in settled[len(settled) // 2:])
        for txn in later:
            txn.payout = None
        payout.not_itemised_yet = tuple(t.id for t in later)
    activity.save()
    return payout.id


# Amounts (cents) and signs for one transaction of each type: money in is positive, money out negative.
TYPE_AMOUNTS = {"adjustment": -500, "advance": 10000, "advance_funding": -10000, "anticipation_repayment": -700,
                "application_fee": 300, "application_fee_refund": -100, "charge": 4990, "climate_order_purchase": -150,
                "climate_order_refund": 150, "connect_collection_transfer": 800, "contribution": -200,
                "fee_credit_funding": 500, "inbound_transfer": 2500, "inbound_transfer_reversal": -2500,
                "issuing_authorization_hold": -1200, "issuing_authorization_release": 1200, "issuing_dispute": 900,
                "issuing_dispute_provisional_credit": 900, "issuing_dispute_provisional_credit_reversal": -900,
                "issuing_transaction": -1100, "obligation_outbound": -400, "obligation_reversal_inbound": 400,
                "payment": 3990, "payment_failure_refund": 1500, "payment_network_reserve_hold": -600,
                "payment_network_reserve_release": 600, "payment_refund": -1500, "payment_reversal": -3990,
                "payment_unreconciled": 250, "payout_minimum_balance_hold": -1000,
                "payout_minimum_balance_release": 1000, "refund": -2000, "refund_failure": 2000,
                "reserve_hold": -800, "reserve_release": 800, "reserve_transaction": -300, "reserved_funds": -350,
                "stripe_balance_payment_debit": -450, "stripe_balance_payment_debit_reversal": 450,
                "stripe_fee": -990, "stripe_fx_fee": -120, "tax_fee": -190, "tax_fund": -230, "topup": 5000,
                "topup_reversal": -5000, "transfer": -1300, "transfer_cancel": 1300, "transfer_failure": 1300,
                "transfer_refund": 700}
# Made by the payout flows themselves (a payout's own transaction, a failed or canceled payout's return).
FLOW_TYPES = ("payout", "payout_cancel", "payout_failure")
EVERY_OTHER_TYPE = tuple(name for name in TYPES if name not in FLOW_TYPES)


def _of_type(self, name, amount=None, category=None, source=None, fee=0):
    amount = TYPE_AMOUNTS.get(name, -100) if amount is None else amount
    return self._transaction(name, amount, source, name.replace("_", " "), stripe_fee=fee, category=category)


Activity.of_type = _of_type


def complete_itemisation(account, payout_id):
    """Stripe finished itemising: ?payout= now lists every transaction the payout settled."""
    payout = account.collections["payout"].get(payout_id)
    transactions = account.collections["balance_transaction"]
    for txn_id in payout.not_itemised_yet:
        transactions.change(transactions.get(txn_id), "payout", payout_id)
    payout.not_itemised_yet = ()
    payout.reconciliation_status = "completed"


def fail_payout(account, clock, payout_id, status="failed", failure_code="account_closed",
                failure_message="The bank account has been closed."):
    """A payout that fails (or is canceled), possibly after Stripe first reported it paid: its money comes
    back to the balance as a payout_failure / payout_cancel transaction that a later payout settles."""
    payout = account.collections["payout"].get(payout_id)
    activity = Activity(account, clock, start=max(_latest(account), payout.created) + 60)
    kind = "payout_failure" if status == "failed" else "payout_cancel"
    back = activity._transaction(kind, payout.amount, payout.id, f"Payout {status}", currency=payout.currency)
    back.pending, back.available_on = False, back.created
    activity.save()
    payout.status, payout.failure_code, payout.failure_message = status, failure_code, failure_message
    payout.failure_balance_transaction = back.id
    return back.id


def pay_out_available(account, clock, currency=None):
    """An automatic payout of every available transaction no payout took yet (in one currency)."""
    currency = currency or account.default_currency
    transactions = account.collections["balance_transaction"]
    free = [transactions.by_id[key[1]] for key in transactions.keys]
    free = [t for t in free if t.payout is None and not t.pending and t.currency == currency and t.type != "payout"
            and not _itemised_later(account, t)]
    activity = Activity(account, clock, start=_latest(account))
    for txn in free:
        transactions.change(txn, "payout", None)
    payout = activity.settle([], activity.t + 3600, 0, currency)
    payout.amount = sum(t.net for t in free)
    own = activity.transactions[-1]
    own.amount = -payout.amount
    payout.status = "paid"
    activity.save()
    for txn in free:
        transactions.change(txn, "payout", payout.id)
    return payout.id


def _itemised_later(account, txn):
    return any(txn.id in p.not_itemised_yet for p in account.collections["payout"].by_id.values())


def payout_report(account, payout_id):
    """Stripe's payout reconciliation report for one payout, from the double's own records: per
    reporting_category the count, gross, fee and net (minor units) of what the payout settled."""
    payout = account.collections["payout"].get(payout_id)
    report = {}
    for txn in account.collections["balance_transaction"].by_id.values():
        settled = txn.payout == payout_id or txn.id in payout.not_itemised_yet
        if not settled or txn.id == payout.balance_transaction:
            continue
        row = report.setdefault(reporting_category(txn), {"count": 0, "gross": 0, "fee": 0, "net": 0})
        row["count"] += 1
        row["gross"] += txn.amount
        row["fee"] += txn.fee
        row["net"] += txn.net
    return report


def seed_reconciliation_world(account, clock):
    """One account with every case reconciliation meets; {name: payout id} and what each should show.

    Every balance transaction type of the pinned API, a chargeback and its reversal, a mismatch, an
    itemisation in progress, a manual payout, a payout that fails after being paid, a canceled one, the
    later payout that settles their returned money, a negative payout and one in another currency.
    """
    seed_activity(account, clock, 30, n_payouts=2)
    every = EVERY_OTHER_TYPE
    payouts = {"every_type": add_payout_with_transactions(account, clock, 3, types=every, refunds=1)}
    activity = Activity(account, clock, start=_latest(account))
    activity.t += 60
    charge_id = next(iter(account.collections["charge"].by_id))
    activity.of_type("adjustment", -4990, "dispute", source="du_" + charge_id[3:], fee=1500)
    activity.t += 60
    activity.of_type("adjustment", 4990, "dispute_reversal", source="du_" + charge_id[3:], fee=-1500)
    for txn in activity.transactions:
        txn.pending, txn.available_on = False, txn.created
    activity.save()
    payouts["disputes"] = pay_out_available(account, clock)
    payouts["mismatch"] = add_payout_with_transactions(account, clock, 4, mismatch_cents=7)
    payouts["in_progress"] = add_payout_with_transactions(account, clock, 6, reconciliation_status="in_progress")
    payouts["manual"] = add_payout_with_transactions(account, clock, 3, automatic=False)
    payouts["failed_later"] = add_payout_with_transactions(account, clock, 3)
    payouts["canceled"] = add_payout_with_transactions(account, clock, 2, status="pending")
    payouts["in_transit"] = add_payout_with_transactions(account, clock, 2, status="in_transit")
    payouts["negative"] = add_payout_with_transactions(account, clock, 0,
                                                       types=("refund", "payment_refund", "stripe_fee"))
    payouts["usd"] = add_payout_with_transactions(account, clock, 3, currency="usd")
    fail_payout(account, clock, payouts["canceled"], status="canceled", failure_code=None,
                failure_message=None)
    return payouts


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
