"""The public Python API: one kind of result per method, and typed."""

from __future__ import annotations

import inspect
import typing

import pytest

from alerting import SlackAlertManager, SyncSlackAlertManager

METHODS = ("send_alert", "setup_escalation", "acknowledge", "resolve")


def _mentions_any(hint: object) -> bool:
    if hint is typing.Any:
        return True
    return any(_mentions_any(arg) for arg in typing.get_args(hint))


@pytest.mark.parametrize("name", METHODS)
def test_slack_alert_manager_methods_are_coroutines(name: str) -> None:
    assert inspect.iscoroutinefunction(getattr(SlackAlertManager, name))


@pytest.mark.parametrize("name", METHODS)
def test_the_sync_twin_returns_plain_values(name: str) -> None:
    assert not inspect.iscoroutinefunction(getattr(SyncSlackAlertManager, name))


@pytest.mark.parametrize("cls", [SlackAlertManager, SyncSlackAlertManager])
@pytest.mark.parametrize("name", METHODS)
def test_signatures_are_typed_without_any(cls: type, name: str) -> None:
    method = getattr(cls, name)
    hints = typing.get_type_hints(method)
    assert "return" in hints
    params = [p for p in inspect.signature(method).parameters if p != "self"]
    assert set(params) <= set(hints), f"untyped parameters of {cls.__name__}.{name}"
    loose = [p for p, hint in hints.items() if _mentions_any(hint)]
    assert not loose, f"{cls.__name__}.{name}: Any in {loose}"


@pytest.mark.parametrize("name", METHODS)
def test_both_classes_take_the_same_arguments(name: str) -> None:
    def params(cls: type) -> list[tuple[str, object]]:
        signature = inspect.signature(getattr(cls, name))
        return [(p.name, p.kind) for p in signature.parameters.values()]

    assert params(SlackAlertManager) == params(SyncSlackAlertManager)
