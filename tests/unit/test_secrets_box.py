"""Fernet keys: encryption at rest, rotation by prepending a key, clear errors."""

from __future__ import annotations

import pytest

from alerting.secrets import ENCRYPTED_KEY, SecretBox, SecretKeyError


def test_rotation_keeps_old_values_readable_and_writes_with_the_new_key() -> None:
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    stored = SecretBox(old).encrypt("https://hooks.slack.com/services/T/B/x")
    assert "hooks.slack.com" not in stored[ENCRYPTED_KEY]
    rotated = SecretBox(f"{new},{old}")
    assert rotated.decrypt(stored) == "https://hooks.slack.com/services/T/B/x"
    rewritten = rotated.encrypt("v")
    assert SecretBox(new).decrypt(rewritten) == "v"
    with pytest.raises(SecretKeyError, match="rotated without keeping the old one"):
        SecretBox(new).decrypt(stored)


def test_missing_or_bad_keys_are_explained() -> None:
    with pytest.raises(SecretKeyError, match="ALERTING_SECRET_KEY is not set"):
        SecretBox(None).encrypt("x")
    with pytest.raises(SecretKeyError, match="not a Fernet key"):
        SecretBox("short")
