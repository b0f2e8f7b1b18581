"""Reading Stripe's objects: anything Envoix cannot store faithfully is named with its reason, never half-read."""
import pytest

from envoix.sync import stripe_rows

TXN = {"id": "txn_1", "type": "charge", "amount": 1000, "fee": 40, "net": 960, "currency": "eur", "created": 1}


def odd(**changes):
    obj = dict(TXN)
    for name, value in changes.items():
        if value is KeyError:
            obj.pop(name)
        else:
            obj[name] = value
    return obj


@pytest.mark.parametrize("obj, field", [
    (odd(amount=2 ** 63), "amount"), (odd(amount=-(2 ** 63) - 1), "amount"), (odd(net=KeyError), "net"),
    (odd(amount="1000"), "amount"), (odd(amount=True), "amount"), (odd(amount=10.5), "amount"),
    (odd(type="charge\ud800"), "type"), (odd(type=KeyError), "type"), (odd(type=7), "type"),
    (odd(currency="euro"), "currency"), (odd(currency=None), "currency"), (odd(source="ch_\x00"), "source"),
    (odd(created=None), "created"),
])
def test_an_unreadable_field_names_itself(obj, field):
    with pytest.raises(stripe_rows.Unreadable) as problem:
        stripe_rows.balance_transaction(1, obj)
    assert problem.value.stripe_id == "txn_1" and problem.value.reason.startswith(field)


@pytest.mark.parametrize("obj", [odd(id=KeyError), odd(id=""), odd(id="txn_\x00"), odd(id="txn_\ud83d"), odd(id=5), "txn_1",
                                 None, [TXN]])
def test_an_object_without_a_readable_id_is_kept_aside_without_one(obj):
    with pytest.raises(stripe_rows.Unreadable) as problem:
        stripe_rows.balance_transaction(1, obj)
    assert problem.value.stripe_id == ""


def test_free_text_is_cleaned_not_refused_and_long_types_are_fine():
    row = stripe_rows.balance_transaction(1, odd(description="Bestellung\x00 M\ud800üller", currency="EUR",
                                                 type="issuing_dispute_provisional_credit_reversal"))
    assert row["description"] == "Bestellung Müller" and row["currency"] == "eur"
    assert row["type"] == "issuing_dispute_provisional_credit_reversal"
    assert stripe_rows.balance_transaction(1, odd(amount=2 ** 63 - 1, net=-(2 ** 63 - 1)))["amount"] == 2 ** 63 - 1


def test_an_expanded_customer_gives_the_charge_its_name_and_email():
    charge = {"id": "ch_1", "amount": 500, "currency": "eur", "created": 1,
              "customer": {"id": "cus_1", "name": "Anna Becker", "email": "anna@example.com"}}
    row = stripe_rows.charge(1, charge)
    assert (row["customer_id"], row["customer_name"], row["customer_email"]) == ("cus_1", "Anna Becker", "anna@example.com")


def test_an_invoice_names_the_charge_that_paid_it():
    invoice = {"id": "in_1", "number": "RE-2026-001", "currency": "eur", "created": 1, "amount_paid": 500,
               "payments": {"data": [{"payment": {"type": "charge", "charge": "ch_1"}}]}}
    row = stripe_rows.invoice(1, invoice)
    assert row["charge_id"] == "ch_1" and row["number"] == "RE-2026-001"
