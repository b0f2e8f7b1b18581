"""Two real processes renewing the same Stripe App connection's token at the same moment, fifty times in a row.

Each round the access token runs out; both processes (as a web worker and a job worker would) ask for a valid
token at once. Stripe rolls refresh tokens, so a second refresh with the same one would be refused: exactly
one refresh may reach Stripe, both processes must end up with the same new token, the stored pair must be the
one Stripe knows, and the connection must stay active.
"""
import hashlib
import multiprocessing

from conftest import TEST_DATABASE_URL

import oauth_steps as steps
from envoix import secrets
from envoix.db import database
from envoix.models import StripeConnection, utcnow

ROUNDS = 50


def _renewing_process(config, instance_path, connection_id, barrier, results):
    from envoix import app_tokens, create_app

    app = create_app(config, environ={"ENVOIX_ENV": "development"}, instance_path=instance_path)
    with app.app_context():
        for _ in range(ROUNDS):
            barrier.wait(timeout=60)
            database.connect(reuse_if_open=True)
            try:
                connection = StripeConnection.get_by_id(connection_id)
                token = app_tokens.credentials(connection).token.current()
                results.put(("ok", hashlib.sha256(token.encode()).hexdigest()))
            except Exception as error:  # reported to the test, which fails with it
                results.put(("error", type(error).__name__))
            finally:
                database.close()
            barrier.wait(timeout=60)


def test_two_processes_refreshing_at_once_never_lose_the_pair_nor_revoke(web, user, stripe, app, tmp_path):
    assert steps.result_of(steps.connect(web)) == "success"
    (connection,) = steps.connections()
    config = {key: app.config[key] for key in (
        "SECRET_KEY", "DATABASE_URL", "STRIPE_API_BASE", "STRIPE_CONNECT_BASE", "STRIPE_MARKETPLACE_BASE",
        "STRIPE_CLIENT_ID", "STRIPE_SECRET_KEY", "STRIPE_MAX_RETRIES", "STRIPE_TIMEOUT", "ENVOIX_EMBEDDED_WORKER")}
    config.update(TESTING=True, HUEY_IMMEDIATE=True, LOG_LEVEL="WARNING")
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(3), context.Queue()
    workers = [context.Process(target=_renewing_process, daemon=True,
                               args=(config, app.instance_path, connection.id, barrier, results))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        for round_ in range(ROUNDS):
            before = stripe.app_refreshes
            stripe.expire_app_tokens()
            with database.connection_context():
                StripeConnection.update(access_expires_at=utcnow()).execute()
            barrier.wait(timeout=60)  # both processes ask now
            barrier.wait(timeout=60)  # both have answered
            answers = [results.get(timeout=30) for _ in workers]

            assert [kind for kind, _ in answers] == ["ok", "ok"], f"round {round_}: {answers}"
            assert answers[0][1] == answers[1][1], f"round {round_}: the processes hold different tokens"
            assert stripe.app_refreshes == before + 1, f"round {round_}: {stripe.app_refreshes - before} refreshes"
            with app.app_context():
                (stored,) = steps.connections()
                assert stored.status == "active"
                assert hashlib.sha256(secrets.decrypt(stored.secret_encrypted).encode()).hexdigest() == answers[0][1]
                assert secrets.decrypt(stored.refresh_token_encrypted) in stripe.state.app_refresh_tokens
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.terminate()
    assert TEST_DATABASE_URL or app.config["DATABASE_URL"].startswith("sqlite:///")
