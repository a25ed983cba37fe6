"""Encryption at rest of CLAM passwords (Fernet, with key rotation through MultiFernet)."""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class PasswordUnreadable(Exception):
    """The stored password does not decrypt with any configured key."""

    def __str__(self):
        return (
            "the stored password cannot be decrypted with the configured keys "
            "(CLAM_PASSWORD_KEYS changed?); enter the password again"
        )


def _fernet():
    return MultiFernet([Fernet(key.encode()) for key in settings.CLAM_PASSWORD_KEYS])


def encrypt(plaintext):
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token):
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        raise PasswordUnreadable() from None


def rotate(token):
    """The same secret, encrypted with the first (newest) key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except (InvalidToken, ValueError):
        raise PasswordUnreadable() from None
