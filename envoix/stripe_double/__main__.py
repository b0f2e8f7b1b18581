"""Demo mode: `python -m envoix.stripe_double` serves seeded demo data and prints how to point Envoix at it."""
import argparse
import signal
import sys
import threading

from .double import StripeDouble


def describe(double):
    keys = double.demo_keys
    url = double.url
    return "\n".join([
        f"Stripe double listening on {url}",
        "",
        "Run Envoix against it:",
        f"  STRIPE_API_BASE={url} STRIPE_CONNECT_BASE={url} STRIPE_MARKETPLACE_BASE={url} "
        f"STRIPE_CLIENT_ID={double.client_id} STRIPE_SECRET_KEY={double.platform_secret_key} "
        f"STRIPE_APP_SIGNING_SECRET={double.app_signing_secret} STRIPE_OAUTH_KIND=app ./dev run",
        "",
        f"Stripe App: \"Mit Stripe verbinden (empfohlen)\" installs Envoix's app at once as Bäckerei Müller GmbH "
        f"({double.demo_oauth_account}); access tokens live {int(double.oauth.access_ttl)} s "
        f"(POST {url}/_double/apps/expire_tokens ends them now, /_double/apps/uninstall uninstalls).",
        f"Restricted keys to paste (account Atelier Sonnenschein, {double.demo_key_account}):",
        f"  all permissions, test mode:   {keys['all']}",
        f"  all permissions, live mode:   {keys['all_live']}",
        f"  missing rak_payout_read:      {keys['missing_payout']}",
        f"  revoked:                      {keys['revoked']}",
        f"  expired:                      {keys['expired']}",
        "",
        f"Control API: {url}/_double/state (GET), /_double/reset, /_double/oauth, /_double/faults (POST JSON).",
        "Ctrl-C stops it.",
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m envoix.stripe_double", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    args = parser.parse_args(argv)

    double = StripeDouble().start(args.host, args.port)
    double.set_latency(args.latency)
    print(describe(double), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
