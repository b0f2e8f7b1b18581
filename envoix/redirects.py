"""Where to send the user next, without ever becoming an open redirect."""
from flask import url_for


def safe_next(target, default_endpoint="accounts.index"):
    # Only paths on this site: `//evil.example`, `https://…` and backslash tricks fall back to the default.
    # Control characters too: CR/LF cannot go into a header (a 500), and browsers drop tabs and newlines from
    # URLs, so `/\t/evil.example` would arrive as `//evil.example`.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target and len(target) < 2000 \
            and not any(ord(c) < 32 or ord(c) == 127 for c in target):
        return target
    return url_for(default_endpoint)
