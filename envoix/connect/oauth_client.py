"""The OAuth dance's two ends: the authorize redirect and the code exchange, for both kinds Envoix speaks.

STRIPE_OAUTH_KIND=app (the default): Envoix's Stripe App. The browser goes to the app's install link
(STRIPE_APP_AUTHORIZE_URL, else {STRIPE_MARKETPLACE_BASE}/oauth/v2/authorize) with client_id, redirect_uri and a
state kept here in the session (bound to the user, 10 minutes, single use, at most MAX_STATES at once); the
code is exchanged by app_tokens.exchange_code.

STRIPE_OAUTH_KIND=connect: Stripe Connect OAuth through Authlib, as before. What Authlib does on
its own (1.9): `authorize_redirect` keeps `session["_state_stripe_<state>"] = {"data": …, "exp": now + 3600}`;
`authorize_access_token` pops that entry (single use) and raises `MismatchingStateError` when it is
missing, but it never looks at `exp`, and when Stripe answers with `error=…` it raises before reading or
clearing the state. So the integration below shortens the lifetime to 10 minutes, refuses expired
entries and entries of another user, and `exchange_code` checks and clears the state on every path.
"""
import secrets as _random
import time
from urllib.parse import urlencode

import requests
from authlib.integrations.flask_client import FlaskIntegration, OAuth, OAuthError
from flask import current_app, redirect, session
from flask_login import current_user
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .. import app_tokens, links, stripe_api
from ..stripe_api import StripeUnavailable

NAME = "stripe"
STATE_LIFETIME_SECONDS = 600
# Started dances kept at once: a person may have a few tabs open; more would only grow the session cookie
# (184 starts once made it so big that every request answered 431).
MAX_STATES = 5
APP_STATES = "_state_app_oauth"
OVERLOADED = (429, 500, 502, 503, 504)


class StateRejected(Exception):
    """The callback's `state` is missing, unknown, used, expired, or was issued to another session or user."""


class AuthorizationRefused(Exception):
    """Stripe said no: `error` (access_denied, invalid_grant, invalid_scope, …) and its `description`."""

    def __init__(self, error, description=None):
        super().__init__(error)
        self.error, self.description = error, description


class UserBoundStates(FlaskIntegration):
    """Authlib's session-kept state, valid for 10 minutes and only for the user who started the dance."""

    expires_in = STATE_LIFETIME_SECONDS

    def set_state_data(self, session, state, data):
        # The authorize URL itself is not needed to finish; leaving it out keeps the session cookie small.
        data = {key: value for key, value in data.items() if key != "url"}
        prefix = f"_state_{self.name}_"
        kept = sorted((key for key in session if key.startswith(prefix)),
                      key=lambda key: (session[key] or {}).get("exp", 0) if isinstance(session[key], dict) else 0)
        for key in kept[:max(0, len(kept) - (MAX_STATES - 1))]:
            session.pop(key, None)
        super().set_state_data(session, state, {**data, "user_id": current_user.get_id()})

    def get_state_data(self, session, state):
        if not state:
            return None
        entry = session.get(f"_state_{self.name}_{state}")
        if not isinstance(entry, dict) or not entry.get("exp") or entry["exp"] < time.time():
            return None
        data = super().get_state_data(session, state)
        if not data or data.get("user_id") != current_user.get_id():
            return None
        return data


class StripeOAuth(OAuth):
    framework_integration_cls = UserBoundStates


def init_app(app):
    config = app.config
    base = config["STRIPE_CONNECT_BASE"]
    oauth = StripeOAuth(app)
    oauth.register(
        NAME,
        client_id=config.get("STRIPE_CLIENT_ID"),
        client_secret=config.get("STRIPE_SECRET_KEY"),
        authorize_url=f"{base}/oauth/authorize",
        access_token_url=f"{base}/oauth/token",
        client_kwargs={
            "token_endpoint_auth_method": "client_secret_post",
            "scope": config["STRIPE_OAUTH_SCOPE"],
        },
        compliance_fix=_retrying_transport,
    )


def _retrying_transport(oauth_session):
    """Retry the token request as the `stripe` library retries its own (network errors, 429, 5xx).

    Authlib calls this for every request session it makes, so the settings are read when it is used.
    """
    max_retries = current_app.config["STRIPE_MAX_RETRIES"]
    oauth_session.default_timeout = current_app.config["STRIPE_TIMEOUT"]
    retry = Retry(
        total=max_retries, connect=max_retries, read=max_retries, status=max_retries,
        status_forcelist=OVERLOADED, allowed_methods=frozenset({"POST"}),
        backoff_factor=0.25, raise_on_status=False, respect_retry_after_header=False,
    )
    adapter = HTTPAdapter(max_retries=retry)
    oauth_session.mount("http://", adapter)
    oauth_session.mount("https://", adapter)
    oauth_session.register_compliance_hook("access_token_response", _refuse_overloaded)


def _refuse_overloaded(response):
    # Authlib would read a 429's JSON (`{"error": {…}}`) as an OAuth error: it is Stripe being busy.
    if response.status_code in OVERLOADED:
        raise StripeUnavailable(f"token endpoint answered {response.status_code}")
    return response


def _client():
    return current_app.extensions["authlib.integrations.flask_client"].create_client(NAME)


def is_configured():
    config = current_app.config
    return bool(config.get("STRIPE_CLIENT_ID") and config.get("STRIPE_SECRET_KEY"))


def kind():
    return current_app.config.get("STRIPE_OAUTH_KIND", "app")


def redirect_uri():
    return links.absolute_url("connect.oauth_callback")


def authorize_redirect(email=None):
    """The 302 to Stripe's authorize (or install) page, with a fresh state kept in this user's session."""
    if kind() == "app":
        return redirect(_app_authorize_url(_remember_app_state()))
    extra = {"stripe_user[email]": email} if email else {}
    return _client().authorize_redirect(redirect_uri(), **extra)


def _app_authorize_url(state):
    config = current_app.config
    link = config.get("STRIPE_APP_AUTHORIZE_URL") or f"{config['STRIPE_MARKETPLACE_BASE']}/oauth/v2/authorize"
    query = urlencode({"client_id": config["STRIPE_CLIENT_ID"], "redirect_uri": redirect_uri(), "state": state})
    return f"{link}{'&' if '?' in link else '?'}{query}"


def _remember_app_state():
    now = time.time()
    states = {key: entry for key, entry in (session.get(APP_STATES) or {}).items()
              if isinstance(entry, dict) and entry.get("exp", 0) > now}
    for key in sorted(states, key=lambda key: states[key]["exp"])[:max(0, len(states) - (MAX_STATES - 1))]:
        del states[key]
    state = _random.token_urlsafe(24)
    states[state] = {"user_id": current_user.get_id(), "exp": now + STATE_LIFETIME_SECONDS}
    session[APP_STATES] = states
    return state


def _take_app_state(state):
    """True if `state` was issued to this user within 10 minutes; it is used up either way."""
    states = dict(session.get(APP_STATES) or {})
    entry = states.pop(state, None) if state else None
    session[APP_STATES] = states
    return isinstance(entry, dict) and entry.get("exp", 0) > time.time() and entry.get("user_id") == current_user.get_id()


def is_cancel(args):
    """Back without a code and without a state: the Marketplace page's Cancel (with or without error=access_denied)."""
    return not args.get("code") and not args.get("state") and args.get("error") in (None, "", "access_denied")


def is_listing_install(args):
    """An install started on the App Marketplace listing: code, stripe_user_id and install_signature, no state."""
    return bool(args.get("code") and args.get("stripe_user_id") and args.get("install_signature")
                and not args.get("state"))


def exchange_code(args):
    """Check the callback's `state` first, then trade its `code` for Stripe's token (a dict).

    Raises StateRejected, AuthorizationRefused (Stripe's `error`, from the callback or the token
    endpoint) or StripeUnavailable (timeouts, 429/5xx after retries, unreadable answers).
    """
    if kind() == "app":
        return _exchange_app_code(args)
    client = _client()
    state = args.get("state")
    try:
        if client.framework.get_state_data(session, state) is None:
            raise StateRejected()
        if not args.get("code") and not args.get("error"):
            # Back from Stripe without finishing (an ineligible account often ends like this): not a grant.
            raise AuthorizationRefused("access_denied")
        try:
            token = client.authorize_access_token()
        except OAuthError as error:
            if error.error == "mismatching_state":
                raise StateRejected() from None
            raise AuthorizationRefused(str(error.error), error.description) from None
        except (requests.RequestException, ValueError) as error:
            raise StripeUnavailable(type(error).__name__) from None
    finally:
        # Authlib leaves the state in place when Stripe sent `error=…`: a state is single-use either way.
        if state:
            client.framework.clear_state_data(session, state)
    if not token.get("access_token") or not str(token.get("stripe_user_id", "")).startswith("acct_"):
        raise StripeUnavailable("token answer without access_token or stripe_user_id")
    return token


def _exchange_app_code(args):
    if not _take_app_state(args.get("state")):
        raise StateRejected()
    if args.get("error"):
        raise AuthorizationRefused(str(args["error"])[:100], str(args.get("error_description") or "")[:300])
    if not args.get("code"):
        raise AuthorizationRefused("access_denied")
    try:
        tokens = app_tokens.exchange_code(args["code"])
    except stripe_api.TokenRefused as refused:
        raise AuthorizationRefused(refused.error, refused.description) from None
    return {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
            "stripe_user_id": tokens.account_id, "livemode": tokens.livemode, "scope": tokens.scope,
            "expires_at": tokens.expires_at}
