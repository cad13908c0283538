"""Tenant secrets (webhook URLs, bot tokens) encrypted at rest with Fernet.

``ALERTING_SECRET_KEY`` holds one or more Fernet keys separated by commas, newest first:
new values are encrypted with the first, and any of them decrypts, so keys rotate by
prepending a new one and later running ``alerting tenants sync`` to re-encrypt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from alerting.domain.errors import AlertingError

if TYPE_CHECKING:
    from alerting.settings import Settings

#: Marker key of an encrypted value inside a tenant's stored JSON config.
ENCRYPTED_KEY = "$encrypted"


class SecretKeyError(AlertingError):
    pass


class SecretBox:
    def __init__(self, keys: str | None) -> None:
        parts = [k.strip() for k in (keys or "").split(",") if k.strip()]
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parts]) if parts else None
        except (ValueError, TypeError):
            raise SecretKeyError(
                "ALERTING_SECRET_KEY: not a Fernet key (generate one with `alerting secret-key`)"
            ) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """The box of ``ALERTING_SECRET_KEY`` (empty when unset: encrypting then fails)."""
        key = settings.secret_key
        return cls(key.get_secret_value() if key else None)

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, value: str) -> dict[str, str]:
        if self._fernet is None:
            raise SecretKeyError(
                "ALERTING_SECRET_KEY is not set: tenant webhook URLs and tokens are stored "
                "encrypted; generate a key with `alerting secret-key`"
            )
        return {ENCRYPTED_KEY: self._fernet.encrypt(value.encode()).decode()}

    def decrypt(self, stored: object) -> str:
        if not (isinstance(stored, dict) and ENCRYPTED_KEY in stored):
            raise SecretKeyError("stored secret is not in the encrypted form")
        if self._fernet is None:
            raise SecretKeyError("ALERTING_SECRET_KEY is not set: cannot read tenant secrets")
        try:
            return self._fernet.decrypt(str(stored[ENCRYPTED_KEY]).encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "tenant secret cannot be decrypted with ALERTING_SECRET_KEY (was the key "
                "rotated without keeping the old one?)"
            ) from None
