"""Stripe App OAuth 2.0 as the double speaks it: the Marketplace install page, /v1/oauth/token, the Install API.

- `GET /oauth/v2/authorize` (and a test-mode link `/oauth/v2/<chnlink_…>/authorize`): decided by the settings
  (`oauth.decision`): "approve" sends the browser back with `code` and `state`; "cancel" is the page's Cancel
  button: back with no code and **no state** (`oauth.cancel_with_error` adds `error=access_denied`); "error"
  comes back with `error=invalid_request` and the state. With `oauth.decision == "page"` it shows a small HTML
  page with Approve and Cancel (what a browser journey clicks).
- `POST /v1/oauth/token`, the developer's secret key as the API key: `authorization_code` (single use, 5
  minutes) and `refresh_token` (rolling: a new pair each time, the used refresh token refused afterwards).
  Access tokens look like restricted keys and expire after `oauth.access_ttl` seconds (`api_key_expired`).
- `GET /v1/apps/installs`, `POST /v1/apps/installs/:id/uninstall` with `Stripe-Account`: the Install API.
- `listing_install(...)`: the redirect an install started on the Marketplace listing makes (code,
  stripe_user_id, user_id, install_signature; no state), signed with the app's signing secret.
"""
import hashlib
import hmac
import json
import time
from html import escape
from urllib.parse import urlencode

from .objects import new_id
from .oauth import _require_platform_key, oauth_error
from .state import Grant, StripeError, key_from_authorization, mask_key

SCOPE = "stripe_apps"


def authorize(state, query, method="GET"):
    param = {name: values[-1] for name, values in query.items()}
    settings = state.oauth
    settings.last_authorize = param
    if param.get("client_id") != state.client_id:
        raise oauth_error(400, "invalid_client", f"No such application: '{param.get('client_id', '')}'")
    redirect_uri = param.get("redirect_uri")
    if not redirect_uri:
        raise oauth_error(400, "invalid_request", "No redirect_uri was provided.")
    decision = param.get("decision") if method == "POST" else settings.decision
    if decision == "page":
        return 200, _page(param)
    back = {"state": param["state"]} if "state" in param else {}
    if decision in ("cancel", "deny") or settings.ineligible:
        answer = {"error": "access_denied"} if settings.cancel_with_error else {}
        back = {}  # the Marketplace page's Cancel sends no state (stripe-apps#948)
    elif decision == "error":
        answer = {"error": "invalid_request", "error_description": "The app could not be installed."}
    else:
        account = state.accounts[settings.account_id or state.demo_oauth_account]
        answer = {"code": _issue_code(state, account)}
        install(state, account.id)
    separator = "&" if "?" in redirect_uri else "?"
    query_string = urlencode({**answer, **back})
    return 302, redirect_uri + (separator + query_string if query_string else "")


def _issue_code(state, account):
    code = new_id("ac", state.rng)
    state.codes[code] = Grant(account.id, SCOPE, account.livemode, time.time())
    return code


def _page(param):
    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in param.items())
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Install Envoix</title></head><body>'
        "<h1>Install Envoix</h1><p>Envoix would like to read your payouts, balance and charges.</p>"
        f'<form method="post" action="">{hidden}'
        '<button type="submit" name="decision" value="approve" id="approve">Install app</button>'
        '<button type="submit" name="decision" value="cancel" id="cancel">Cancel</button></form></body></html>'
    )
    return body.encode()


def token(state, form, headers):
    """POST /v1/oauth/token for a Stripe App."""
    _require_platform_key(state, form, headers)
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        code = form.get("code")
        if not code:
            raise oauth_error(400, "invalid_request", "Missing required param: code.")
        grant = state.codes.pop(code, None)  # single use
        if grant is None or grant.scope != SCOPE:
            raise oauth_error(400, "invalid_grant", f"Authorization code does not exist: {code}")
        if time.time() - grant.issued_at > state.oauth.code_ttl:
            raise oauth_error(400, "invalid_grant", f"Authorization code expired: {code}")
        return 200, _pair(state, grant)
    if grant_type == "refresh_token":
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            raise oauth_error(400, "invalid_request", "Missing required param: refresh_token.")
        grant = state.app_refresh_tokens.pop(refresh_token, None)  # rolling: used once
        if grant is None:
            raise oauth_error(400, "invalid_grant", f"Refresh token does not exist: {mask_key(refresh_token)}")
        state.app_refreshes += 1
        return 200, _pair(state, grant)
    if not grant_type:
        raise oauth_error(400, "invalid_request", "Missing required param: grant_type.")
    raise oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}.")


def _pair(state, grant):
    access = state.issue_key(grant.account_id, "app", grant.livemode)
    state.keys[access].expires_at = time.time() + state.oauth.access_ttl
    refresh = new_id("rt", state.rng)
    state.app_refresh_tokens[refresh] = grant
    return {"access_token": access, "livemode": grant.livemode, "refresh_token": refresh, "scope": SCOPE,
            "stripe_publishable_key": state.issue_key(grant.account_id, "publishable", grant.livemode),
            "stripe_user_id": grant.account_id, "token_type": "bearer"}


def expire_access_tokens(state, account_id=None):
    """Every App access token (of one account, or all) expires now; returns how many."""
    now, count = time.time(), 0
    for key in state.keys.values():
        if key.kind == "app" and (account_id is None or key.account_id == account_id):
            key.expires_at = min(key.expires_at or now, now)
            count += 1
    return count


def install(state, account_id):
    record = state.installs.get(account_id)
    if record is None or record["status"] != "installed":
        state.installs[account_id] = {"id": new_id("appinst_test", state.rng), "object": "apps.install",
                                      "account": account_id, "app": state.client_id, "channel": "public",
                                      "status": "installed", "created": int(time.time())}
    return state.installs[account_id]


def uninstall(state, account_id):
    """The user (or the Install API) uninstalls the app: its tokens stop working at once."""
    for key in state.keys.values():
        if key.account_id == account_id and key.kind == "app":
            key.status = "revoked"
    for token_ in [t for t, grant in state.app_refresh_tokens.items() if grant.account_id == account_id]:
        del state.app_refresh_tokens[token_]
    if account_id in state.installs:
        state.installs[account_id]["status"] = "uninstalled"


def installs(state, method, path, headers):
    """GET /v1/apps/installs and POST /v1/apps/installs/:id/uninstall, as the developer acting on an account."""
    secret = key_from_authorization(headers.get("Authorization"))
    if secret != state.platform_secret_key:
        raise StripeError(401, f"Invalid API Key provided: {mask_key(secret or '')}")
    account_id = headers.get("Stripe-Account")
    record = state.installs.get(account_id)
    if method == "GET" and path == "/v1/apps/installs":
        listed = [record] if record is not None and record["status"] == "installed" else []
        return 200, {"object": "list", "data": listed, "has_more": False, "url": "/v1/apps/installs"}
    if method == "POST" and path.endswith("/uninstall"):
        install_id = path[len("/v1/apps/installs/"):-len("/uninstall")]
        if record is None or record["id"] != install_id:
            raise StripeError(404, f"No such app install: '{install_id}'", code="resource_missing")
        uninstall(state, account_id)
        return 200, {**record, "status": "uninstalling"}
    raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")


def listing_install(state, redirect_uri, account_id=None, signing_secret=None, timestamp=None):
    """The URL Stripe sends the browser to after an install from the Marketplace listing (no state)."""
    account = state.accounts[account_id or state.demo_oauth_account]
    code = _issue_code(state, account)
    install(state, account.id)
    user_id = new_id("usr", state.rng)
    payload = json.dumps({"user_id": user_id, "account_id": account.id}, separators=(",", ":"))
    stamp = int(time.time() if timestamp is None else timestamp)
    secret = signing_secret or state.app_signing_secret
    signature = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    query = urlencode({"code": code, "stripe_user_id": account.id, "user_id": user_id,
                       "install_signature": f"t={stamp},v1={signature}"})
    return redirect_uri + ("&" if "?" in redirect_uri else "?") + query
