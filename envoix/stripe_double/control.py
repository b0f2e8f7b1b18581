"""The /_double/ control API (JSON in and out): how another process (gunicorn, browser tests) drives the double."""
import json


def _reset(double, body):
    double.reset()
    return {"ok": True}


def _account(double, body):
    return {"id": double.add_account(**body)}


def _key(double, body):
    return {"key": double.add_restricted_key(**body)}


def _revoke(double, body):
    double.revoke_key(body["key"])
    return {"ok": True}


def _expire(double, body):
    double.expire_key(body["key"])
    return {"ok": True}


def _remove_permission(double, body):
    double.remove_permission(body["key"], body["permission"])
    return {"ok": True}


def _oauth(double, body):
    settings = double.oauth
    for name in ("decision", "account_id", "ineligible", "code_ttl", "access_ttl", "cancel_with_error"):
        if name in body:
            setattr(settings, name, body[name])
    if settings.account_id and settings.account_id not in double.state.accounts:
        raise ValueError(f"no such account: {settings.account_id}")
    return {"decision": settings.decision, "account_id": settings.account_id, "ineligible": settings.ineligible,
            "code_ttl": settings.code_ttl, "access_ttl": settings.access_ttl,
            "cancel_with_error": settings.cancel_with_error, "last_authorize": settings.last_authorize}


def _expire_app_tokens(double, body):
    return {"expired": double.expire_app_tokens(body.get("account_id"))}


def _uninstall(double, body):
    return {"event": double.uninstall(body["account_id"])}


def _listing_install(double, body):
    return {"url": double.listing_install(**body)}


def _fault(double, body):
    body = dict(body)
    double.add_fault(body.pop("match"), body.pop("kind"), body.pop("times", 1), **body)
    return {"ok": True}


def _clear_faults(double, body):
    double.clear_faults()
    return {"ok": True}


def _latency(double, body):
    double.set_latency(body["seconds"])
    return {"seconds": double.latency}


def _payout(double, body):
    return {"id": double.add_payout_with_transactions(**body)}


def _complete_itemisation(double, body):
    double.complete_itemisation(body["account_id"], body["payout_id"])
    return {"ok": True}


def _fail_payout(double, body):
    body = dict(body)
    return {"balance_transaction": double.fail_payout(body.pop("account_id"), body.pop("payout_id"), **body)}


def _pay_out_available(double, body):
    return {"id": double.pay_out_available(**body)}


def _payout_report(double, body):
    return {"report": double.payout_report(body["account_id"], body["payout_id"])}


def _odd_object(double, body):
    double.make_odd(body["account_id"], body["object_id"], body.get("changes"), body.get("remove", ()))
    return {"ok": True}


def _reconciliation_world(double, body):
    return {"payouts": double.add_reconciliation_world(body["account_id"])}


def _balance_transactions(double, body):
    return {"ids": double.add_balance_transactions(**body)}


def _connect(double, body):
    double.connect(body["account_id"])
    return {"ok": True}


def _disconnect(double, body):
    return {"event": double.disconnect(body["account_id"])}


def _requests(double, query):
    since = int(query.get("since", ["0"])[-1])
    return {"data": double.requests[since:], "count": len(double.requests)}


def _counts(double, query):
    """How many objects of each kind an account holds (what a complete import must end with)."""
    account = double.state.accounts[query["account"][-1]]
    return {kind: len(collection) for kind, collection in account.collections.items()}


def _state(double, query):
    return double.summary()


POSTS = {
    "/_double/reset": _reset, "/_double/accounts": _account, "/_double/keys": _key,
    "/_double/keys/revoke": _revoke, "/_double/keys/expire": _expire,
    "/_double/keys/remove_permission": _remove_permission, "/_double/oauth": _oauth, "/_double/faults": _fault,
    "/_double/faults/clear": _clear_faults, "/_double/latency": _latency, "/_double/payouts": _payout,
    "/_double/balance_transactions": _balance_transactions, "/_double/connect": _connect,
    "/_double/disconnect": _disconnect, "/_double/apps/expire_tokens": _expire_app_tokens,
    "/_double/apps/uninstall": _uninstall, "/_double/apps/listing_install": _listing_install,
    "/_double/payouts/complete_itemisation": _complete_itemisation,
    "/_double/payouts/fail": _fail_payout, "/_double/payouts/pay_out_available": _pay_out_available,
    "/_double/payouts/report": _payout_report, "/_double/reconciliation_world": _reconciliation_world,
    "/_double/odd_object": _odd_object,
}
GETS = {"/_double/requests": _requests, "/_double/state": _state, "/_double/counts": _counts}


def handle(double, method, path, query, body):
    """(status, JSON body); a bad request says what was wrong with it, with status 400."""
    if method == "GET" and path in GETS:
        return 200, GETS[path](double, query)
    if method != "POST" or path not in POSTS:
        return 404, {"error": f"no control endpoint {method} {path}"}
    try:
        arguments = json.loads(body or b"{}")
        if not isinstance(arguments, dict):
            raise ValueError("the body must be a JSON object")
        with double.state.lock:
            return 200, POSTS[path](double, arguments)
    except (ValueError, TypeError, KeyError) as error:
        return 400, {"error": f"{type(error).__name__}: {error}"}
