"""Encrypts, decrypts and masks Stripe credentials: the only module that handles them in plaintext."""
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class UnreadableSecret(RuntimeError):
    """Stored ciphertext that none of the configured keys can decrypt (a key was removed too early)."""


def _cipher():
    keys = current_app.config["ENVOIX_ENCRYPTION_KEYS"]
    # The first key encrypts; every key decrypts, so old ciphertexts stay readable during rotation.
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plaintext):
    return _cipher().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext):
    try:
        return _cipher().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise UnreadableSecret("stored secret cannot be decrypted with ENVOIX_ENCRYPTION_KEYS") from None


def reencrypt(ciphertext):
    """The same secret under the current first key (for `flask secrets rotate`)."""
    try:
        return _cipher().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise UnreadableSecret("stored secret cannot be decrypted with ENVOIX_ENCRYPTION_KEYS") from None


def mask(key):
    """`rk_live_…abcd`: enough to recognise a key, never enough to use it."""
    if not key:
        return ""
    parts = key.split("_")
    prefix = "_".join(parts[:2]) + "_" if len(parts) > 2 and parts[1] in ("live", "test") else parts[0] + "_"
    return f"{prefix}…{key[-4:]}" if len(key) > len(prefix) + 8 else f"{prefix}…"
