"""Where to send the user next, without ever becoming an open redirect."""
from flask import url_for


def safe_next(target, default_endpoint="accounts.index"):
    # Only paths on this site: `//evil.example`, `https://…` and backslash tricks fall back to the default.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target and len(target) < 2000:
        return target
    return url_for(default_endpoint)
