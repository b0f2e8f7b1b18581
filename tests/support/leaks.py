"""What the leak watch looks for and where: every log line and every response a test client received (body,
headers, decoded session cookie), searched for every secret the test's world knows."""
import logging

from itsdangerous import BadData

SHORTEST_SECRET = 12  # shorter strings are not credentials and would match ordinary text


class LeakWatch(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines, self.pages, self.encrypted = [], [], set()

    def emit(self, record):
        self.lines.append(self.format(record))  # with the traceback, if the record has one

    def saw(self, app, response):
        for answer in [*getattr(response, "history", ()), response]:
            body = answer.get_data(as_text=False).decode("utf-8", "replace")
            self.pages.append(f"{answer.status}\n{answer.headers}\n{body}\n{session_cookies(app, answer)}")

    def leaks(self, known):
        texts = {"log line": self.lines, "response": self.pages}
        found = []
        for secret in sorted(s for s in known if s and len(s) >= SHORTEST_SECRET):
            for where, items in texts.items():
                for text in items:
                    if secret in text:
                        shown = text.replace(secret, "[SECRET]")
                        at = shown.index("[SECRET]")
                        found.append(f"{masked(secret)} in a {where}: …{shown[max(0, at - 200):at + 100]}…")
                        break
        return found


def masked(secret):
    return f"{secret[:8]}…{secret[-4:]}"


def session_cookies(app, response):
    # Flask's session is signed, not encrypted: whatever is in it, the browser (and anyone with it) can read.
    name = app.config.get("SESSION_COOKIE_NAME", "session")
    serializer = app.session_interface.get_signing_serializer(app)
    decoded = []
    for header in response.headers.getlist("Set-Cookie"):
        cookie_name, _, rest = header.partition("=")
        if cookie_name == name and serializer is not None:
            try:
                decoded.append(repr(serializer.loads(rest.split(";", 1)[0])))
            except BadData:
                pass
    return "\n".join(decoded)


def secrets_of(double):
    """Every credential the double issued or was shown (keys in Authorization headers, client_secret, tokens)."""
    state = double.state
    known = {key.secret for key in state.keys.values() if key.kind != "publishable"}
    known |= set(state.refresh_tokens) | set(state.app_refresh_tokens) | {state.platform_secret_key, state.app_signing_secret}
    for entry in list(double.requests):
        scheme, _, value = (entry.get("headers") or {}).get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            known.add(value.strip())
        for name in ("client_secret", "refresh_token"):
            known.update((entry.get("form") or {}).get(name, []))
    return {secret for secret in known if secret and not secret.startswith(("pk_live_", "pk_test_"))}
