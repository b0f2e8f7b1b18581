"""Stripe Connect's OAuth endpoints: authorize (decided by settings, no page to click), token, deauthorize."""
import time
from urllib.parse import urlencode

from .objects import new_id
from .state import Grant, StripeError, key_from_authorization, mask_key

SCOPES = ("read_only", "read_write")
DENIED = "The user denied your request"
NO_AUTH = ("No authentication was provided. Send your secret API key using the Authorization header, or as a "
           "client_secret POST parameter.")


def oauth_error(status, error, description):
    # OAuth errors are flat (`error` is a string): that is how the library tells them from API errors.
    return StripeError(status, body={"error": error, "error_description": description})


def authorize(state, query):
    """GET /oauth/authorize: (302, Location) back to redirect_uri, as Stripe's page would send the browser."""
    param = {name: values[-1] for name, values in query.items()}
    state.oauth.last_authorize = param
    if param.get("client_id") != state.client_id:
        raise oauth_error(400, "invalid_client", f"No such application: '{param.get('client_id', '')}'")
    redirect_uri = param.get("redirect_uri")
    if not redirect_uri:
        raise oauth_error(400, "invalid_request", "No redirect_uri was provided, and the application has none set.")
    back = {"state": param["state"]} if "state" in param else {}
    scope = param.get("scope") or "read_only"
    if param.get("response_type") != "code":
        answer = {"error": "unsupported_response_type",
                  "error_description": f"Unsupported response_type: {param.get('response_type', '')}"}
    elif scope not in SCOPES:
        answer = {"error": "invalid_scope",
                  "error_description": f"Invalid scope: {scope}. Must be one of: {', '.join(SCOPES)}."}
    elif state.oauth.ineligible or state.oauth.decision != "approve":
        answer = {"error": "access_denied", "error_description": DENIED}
    else:
        account = state.accounts[state.oauth.account_id or state.demo_oauth_account]
        code = new_id("ac", state.rng)
        state.codes[code] = Grant(account.id, scope, account.livemode, time.time())
        answer = {"scope": scope, "code": code}
    separator = "&" if "?" in redirect_uri else "?"
    return 302, redirect_uri + separator + urlencode({**answer, **back})


def token(state, form, headers):
    """POST /oauth/token: an authorization code or refresh token for an access token."""
    _require_platform_key(state, form, headers)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise oauth_error(400, "invalid_request", "Missing required param: grant_type.")
    if grant_type == "authorization_code":
        code = form.get("code")
        if not code:
            raise oauth_error(400, "invalid_request", "Missing required param: code.")
        grant = state.codes.pop(code, None)  # single use: gone whether it works or not
        if grant is None:
            raise oauth_error(400, "invalid_grant", f"Authorization code does not exist: {code}")
        if time.time() - grant.issued_at > state.oauth.code_ttl:
            raise oauth_error(400, "invalid_grant", f"Authorization code expired: {code}")
        state.connected.add(grant.account_id)
        refresh_token = new_id("rt", state.rng)
        state.refresh_tokens[refresh_token] = grant
        return 200, _token_answer(state, grant, refresh_token)
    if grant_type == "refresh_token":
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            raise oauth_error(400, "invalid_request", "Missing required param: refresh_token.")
        grant = state.refresh_tokens.get(refresh_token)
        if grant is None:
            raise oauth_error(400, "invalid_grant", f"Refresh token does not exist: {refresh_token}")
        return 200, _token_answer(state, grant, refresh_token)
    raise oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}. "
                      "Use authorization_code or refresh_token.")


def deauthorize(state, form, headers):
    """POST /oauth/deauthorize: the platform lets go of a connected account."""
    _require_platform_key(state, form, headers)
    client_id, account_id = form.get("client_id"), form.get("stripe_user_id")
    if not client_id or not account_id:
        missing = "client_id" if not client_id else "stripe_user_id"
        raise oauth_error(400, "invalid_request", f"Missing required param: {missing}.")
    if client_id != state.client_id:
        raise oauth_error(400, "invalid_client", f"No such application: '{client_id}'")
    if account_id not in state.connected:
        # 401, as the official libraries' own tests have Stripe answer it.
        raise oauth_error(401, "invalid_client", f"This application is not connected to stripe account "
                                                 f"{account_id}, or that account does not exist.")
    state.disconnect(account_id)
    return 200, {"stripe_user_id": account_id}


def _require_platform_key(state, form, headers):
    # client_secret_post (Authlib) or the Authorization header (the stripe library): both carry the platform key.
    secret = form.get("client_secret") or key_from_authorization(headers.get("Authorization"))
    if not secret:
        raise oauth_error(401, "invalid_client", NO_AUTH)
    if secret != state.platform_secret_key:
        raise oauth_error(401, "invalid_client", f"Invalid API Key provided: {mask_key(secret)}")


def _token_answer(state, grant, refresh_token):
    return {
        "access_token": state.issue_key(grant.account_id, "oauth", grant.livemode),
        "livemode": grant.livemode,
        "refresh_token": refresh_token,
        "scope": grant.scope,
        "stripe_publishable_key": state.issue_key(grant.account_id, "publishable", grant.livemode),
        "stripe_user_id": grant.account_id,
        "token_type": "bearer",
    }
