"""gunicorn's settings for Envoix (read from the working folder; the Procfile's `web` and tests/live_app.py use it).

Command-line options override these (the tests pass their own --bind).
"""
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads: a key check waits about one Stripe round trip, during which the worker serves other requests.
threads = 4
# One listening socket per worker (SO_REUSEPORT), so the kernel spreads new connections over the workers.
# With one shared socket, whichever worker wakes first accepts: a burst of keep-alive connections (a router's,
# or a load test's) could all land on one worker, which then holds them while the other one idles
# (measured: all 16 of wrk's connections on one of two workers, half the machine unused).
reuse_port = True
# Behind the platform's router: it sets X-Forwarded-*, and the app trusts one proxy (ProxyFix).
forwarded_allow_ips = "*"
accesslog = "-"


def worker_exit(server, worker):
    # Without Redis the web workers run the jobs: a running import ends at a page boundary and goes back to the
    # queue (continued by the next process) instead of being cut off mid-run.
    from envoix.jobs import stop_embedded_workers

    stop_embedded_workers(timeout=min(20, max(1, int(server.cfg.graceful_timeout) - 5)))
