"""Command-line tasks: `flask db upgrade`, `flask secrets rotate`, `flask translations compile`."""
import click
from flask import Blueprint

from . import migrations
from .db import database

bp = Blueprint("cli", __name__, cli_group=None)


@bp.cli.group("db")
def db_group():
    """Database schema."""


@db_group.command("upgrade")
def db_upgrade():
    """Apply pending schema migrations (the Procfile's release step)."""
    with database.connection_context():
        applied = migrations.upgrade()
        click.echo(f"schema at version {migrations.current_version()}; applied: {applied or 'nothing'}")


@bp.cli.group("secrets")
def secrets_group():
    """Stored Stripe credentials."""


@secrets_group.command("rotate")
def secrets_rotate():
    """Re-encrypt every stored credential with the first key of ENVOIX_ENCRYPTION_KEYS."""
    from .models import StripeConnection
    from .secrets import reencrypt

    count = 0
    with database.connection_context(), database.atomic():
        for connection in StripeConnection.select():
            for field in ("secret_encrypted", "refresh_token_encrypted"):
                value = getattr(connection, field)
                if value:
                    setattr(connection, field, reencrypt(value))
            connection.save()
            count += 1
        users = _reencrypt_two_factor_secrets(reencrypt)
    click.echo(f"re-encrypted the credentials of {count} connections")
    click.echo(f"re-encrypted the two-factor secrets of {users} users")


def _reencrypt_two_factor_secrets(reencrypt):
    from .models import User

    count = 0
    for user in User.select().where(User.totp_secret_encrypted.is_null(False) | User.totp_pending_encrypted.is_null(False)):
        for field in ("totp_secret_encrypted", "totp_pending_encrypted"):
            if getattr(user, field):
                setattr(user, field, reencrypt(getattr(user, field)))
        user.save()
        count += 1
    return count


@bp.cli.group("translations")
def translations_group():
    """Babel catalogues."""


@translations_group.command("compile")
def translations_compile():
    """Compile every .po catalogue into its .mo."""
    from .i18n import compile_catalogues

    for path in compile_catalogues():
        click.echo(f"wrote {path}")
