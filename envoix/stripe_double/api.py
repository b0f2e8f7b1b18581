"""Stripe's /v1 read endpoints: routes, parameters as the library encodes them, permissions, pages, expansion."""
import re

from .objects import EXPANDABLE, View, render
from .state import ENDPOINT_PERMISSIONS, SOURCE_PERMISSION, StripeError, no_such

# List path -> (kind of record, filters it takes besides the common ones).
LISTS = {
    "/v1/balance_transactions": ("balance_transaction", {"payout", "type", "currency", "source"}),
    "/v1/charges": ("charge", {"customer"}),
    "/v1/refunds": ("refund", {"charge"}),
    "/v1/payouts": ("payout", {"status"}),
    "/v1/customers": ("customer", {"email"}),
    "/v1/invoices": ("invoice", {"customer"}),
    "/v1/disputes": ("dispute", {"charge"}),
    "/v1/application_fees": ("application_fee", {"charge"}),
}
MANUAL_PAYOUT = "Balance transaction history can only be filtered on automatic transfers, not manual."
# Expanding a linked object reads that object: a restricted key needs its permission too.
EXPAND_PERMISSIONS = {("balance_transaction", "source"): SOURCE_PERMISSION,
                      ("charge", "customer"): "rak_customer_read", ("invoice", "customer"): "rak_customer_read"}
COMMON = {"limit", "starting_after", "ending_before", "created", "expand"}
CREATED_OPS = {"gt", "gte", "lt", "lte"}
BRACKETS = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def unrecognized(method, path):
    return StripeError(404, f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or "
                            "we can help at https://support.stripe.com/.")


def handle(state, method, path, query, headers):
    """(status, body) for a /v1 request; raises StripeError for every error answer."""
    route = _route(method, path)
    access = state.authenticate(headers.get("Authorization"), headers.get("Stripe-Account"))
    endpoint, object_id = route
    access.require(ENDPOINT_PERMISSIONS[endpoint])
    if endpoint == "/v1/account":
        _params(query, {"expand"}, "account")
        return 200, access.account.to_json()
    if endpoint == "/v1/accounts":
        _params(query, {"expand"}, "account")
        account = state.authenticate(headers.get("Authorization"), object_id).account
        return 200, account.to_json()
    if endpoint == "/v1/balance":
        _params(query, {"expand"}, "balance")
        return 200, access.account.balance_json(access.livemode)
    kind, filters = LISTS[endpoint]
    collection = access.account.collections[kind]
    if object_id is not None:
        params = _params(query, {"expand"}, kind)
        _require_expand_permission(access, kind, params["expand"])
        record = collection.get(object_id)
        if record is None:
            raise no_such(kind, object_id)
        return 200, _render(access.account, record, View(access.livemode, access.account.find, params["expand"]))
    params = _params(query, COMMON | filters, kind, list_prefix="data.")
    _require_expand_permission(access, kind, params["expand"])
    where = {name: params[name] for name in filters if name in params}
    if "payout" in where:
        payout = access.account.collections["payout"].get(where["payout"])
        if payout is None:
            raise no_such("payout", where["payout"], param="payout", status=400)
        if not payout.automatic:
            raise StripeError(400, MANUAL_PAYOUT, param="payout")
    records, has_more = collection.page(params["limit"], params.get("starting_after"),
                                        params.get("ending_before"), params["created"], where)
    view = View(access.livemode, access.account.find, params["expand"])
    return 200, {"object": "list", "data": [_render(access.account, r, view) for r in records], "has_more": has_more,
                 "url": endpoint}


def _render(account, record, view):
    body = render(record, view)
    if record.id in account.odd:
        changes, removed = account.odd[record.id]
        body.update(changes)
        for name in removed:
            body.pop(name, None)
    return body


def _route(method, path):
    """(endpoint, object id or None); unknown URLs and methods are Stripe's 404."""
    if method != "GET":
        raise unrecognized(method, path)
    if path in ("/v1/account", "/v1/balance") or path in LISTS:
        return path, None
    base, _, object_id = path.rpartition("/")
    if object_id and (base in LISTS or base == "/v1/accounts"):
        return base, object_id
    raise unrecognized(method, path)


def _require_expand_permission(access, kind, expand):
    # Stripe checks the endpoint's permission first, so a key lacking both hears about that one.
    for field in expand:
        permission = EXPAND_PERMISSIONS.get((kind, field))
        if permission:
            access.require(permission)


def _params(query, allowed, kind, list_prefix=""):
    """Stripe's form-encoded parameters (`expand[0]=…`, `expand[]=…`, `created[gte]=…`) as plain values."""
    params = {"expand": [], "created": {}, "limit": 10}
    for raw, values in query.items():
        match = BRACKETS.match(raw)
        name, subscript = (match.group(1), match.group(2)) if match else (raw, "")
        if name not in allowed:
            raise StripeError(400, f"Received unknown parameter: {raw}", code="parameter_unknown", param=raw)
        if name == "expand" and (subscript in ("", "[]") or re.fullmatch(r"\[\d+\]", subscript)):
            params["expand"].extend(values)
        elif name == "created" and (not subscript or subscript[1:-1] in CREATED_OPS):
            params["created"][subscript[1:-1] or "eq"] = _integer(values[-1], raw)
        elif subscript:
            raise StripeError(400, f"Received unknown parameter: {raw}", code="parameter_unknown", param=raw)
        elif name == "limit":
            params["limit"] = _integer(values[-1], raw)
            if not 1 <= params["limit"] <= 100:
                raise StripeError(400, "Invalid limit: must be between 1 and 100", param="limit")
        else:
            params[name] = values[-1]
    if "starting_after" in params and "ending_before" in params:
        raise StripeError(400, "You may only specify one of these parameters: ending_before, starting_after.",
                          param="ending_before")
    params["expand"] = [_expandable(path, kind, list_prefix) for path in params["expand"]]
    return params


def _expandable(path, kind, list_prefix):
    field = path[len(list_prefix):] if list_prefix and path.startswith(list_prefix) else None if list_prefix else path
    if field not in EXPANDABLE.get(kind, ()):
        raise StripeError(400, f"This property cannot be expanded ({path}).", param="expand")
    return field


def _integer(value, param):
    try:
        return int(value)
    except ValueError:
        raise StripeError(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param) from None
