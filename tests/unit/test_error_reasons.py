"""Every reason the server raises is a value of the ``ErrorReason`` enum.

Reasons travel as ``google.rpc.ErrorInfo.reason`` strings, so a typo or a new
reason that is not added to ``error_reason.proto`` would reach clients as a
reason no generated client knows. This reads every ``reason`` the server can
raise (class attributes of the error types and ``reason=`` keyword arguments
anywhere under ``server/``) and checks each against the enum.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from vectorgate.v1 import error_reason_pb2
from vectorgate_server import errors

SERVER = Path(__file__).resolve().parents[2] / "server" / "vectorgate_server"
PREFIX = "ERROR_REASON_"
_ENUM = error_reason_pb2.ErrorReason.DESCRIPTOR
KNOWN = {name.removeprefix(PREFIX) for name in _ENUM.values_by_name}


def _reasons_in_source() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in sorted(SERVER.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            is_kwarg = isinstance(node, ast.keyword) and node.arg == "reason"
            is_attr = isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "reason" for t in node.targets
            )
            value = node.value if is_kwarg or is_attr else None  # type: ignore[attr-defined]
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                where = f"{path.relative_to(SERVER)}:{value.lineno}"
                found.append((where, value.value))
    return found


def test_the_source_raises_reasons() -> None:
    # The scan must see the reasons it is meant to check.
    reasons = {reason for _, reason in _reasons_in_source()}
    assert {"INVALID_FIELD", "COLLECTION_NOT_FOUND", "KEY_NOT_FOUND"} <= reasons


@pytest.mark.parametrize(("where", "reason"), _reasons_in_source())
def test_every_raised_reason_is_in_error_reason(where: str, reason: str) -> None:
    assert reason in KNOWN, f"{where}: reason {reason!r} is not in ErrorReason (error_reason.proto)"


def test_every_error_class_reason_is_in_error_reason() -> None:
    classes = [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, errors.VectorgateError)
    ]
    assert len(classes) > 5
    for cls in classes:
        assert cls.reason in KNOWN, f"{cls.__name__}.reason {cls.reason!r} is not in ErrorReason"
