"""PHP-style form encoding of web-service parameters.

Moodle's REST server reads nested parameters from PHP's ``$_POST``, so structures are flattened with
brackets: ``{"users": [{"username": "a"}]}`` becomes ``users[0][username]=a`` (field note 1).
Booleans become ``1``/``0``; ``None`` is dropped, as is an empty list (PHP has no way to send one, and
Moodle treats a missing optional list as empty).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        # 8.0 and 8 mean the same to PHP; keep the shorter form Moodle itself echoes back.
        return str(int(value))
    return str(value)


def flatten(params: Mapping[str, Any] | None, prefix: str = "") -> list[tuple[str, str]]:
    """Flatten ``params`` into ordered ``(name, value)`` pairs as PHP expects them."""
    pairs: list[tuple[str, str]] = []
    if not params:
        return pairs
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        _flatten_value(name, value, pairs)
    return pairs


def _flatten_value(name: str, value: Any, pairs: list[tuple[str, str]]) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten_value(f"{name}[{key}]", inner, pairs)
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        for index, inner in enumerate(value):
            _flatten_value(f"{name}[{index}]", inner, pairs)
    else:
        pairs.append((name, _scalar(value)))


def count_vars(value: Any) -> int:
    """How many form variables ``value`` becomes once flattened (what ``max_input_vars`` counts)."""
    if value is None:
        return 0
    if isinstance(value, Mapping):
        return sum(count_vars(inner) for inner in value.values())
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return sum(count_vars(inner) for inner in value)
    return 1
