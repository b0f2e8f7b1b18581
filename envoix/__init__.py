"""Envoix: connect Stripe accounts (OAuth or restricted key) and reconcile their payouts."""
import logging
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import cli, config, db, errors, i18n, jobs, log_redaction, security
from .auth.session import login_manager
from .sync import jobs as sync_jobs


# In the repository templates/ and static/ sit next to the package; an installed wheel carries them inside it.
_SHIPPED = (Path(__file__).parent / "templates").is_dir()


def create_app(test_config=None, environ=None, instance_path=None):
    app = Flask(
        __name__, instance_path=instance_path, instance_relative_config=True,
        template_folder="templates" if _SHIPPED else "../templates",
        static_folder="static" if _SHIPPED else "../static",
    )
    app.config.update(config.from_environment(app.instance_path, environ))
    if test_config:
        app.config.update(test_config)

    log_redaction.install()
    logging.basicConfig(level=app.config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    db.init_app(app)
    security.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)
    from . import mail
    from .account import housekeeping

    jobs.init_app(app, sync_jobs.JOBS + mail.JOBS + housekeeping.JOBS, on_worker_start=sync_jobs.ON_WORKER_START)
    _register_blueprints(app)
    _trust_proxies(app)
    return app


def _trust_proxies(app):
    # Only the proxies the operator names (Heroku's router: 1) may say who the client is and which scheme it used;
    # with 0, X-Forwarded-* are ignored, so no client can spoof its address past the per-address limits.
    # The host is never taken from them: absolute links come from ENVOIX_BASE_URL (see connect/oauth_client.py).
    proxies = app.config.get("ENVOIX_TRUSTED_PROXIES", 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=0, x_port=0, x_prefix=0)


def _register_blueprints(app):
    from .account import bp as account_bp
    from .accounts import bp as accounts_bp
    from .auth import bp as auth_bp
    from .bookkeeping import bp as bookkeeping_bp
    from .connect import bp as connect_bp
    from .legal import bp as legal_bp
    from .main import bp as main_bp
    from .webhooks import bp as webhooks_bp

    for blueprint in (main_bp, auth_bp, connect_bp, accounts_bp, bookkeeping_bp, webhooks_bp, cli.bp, account_bp, legal_bp):
        app.register_blueprint(blueprint)
