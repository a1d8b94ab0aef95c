"""Search filters beyond words: created/updated date ranges, size ranges and metadata filters
(`mdfilters`), parsed from Box's query-string forms and applied to item rows."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .errors import BoxError
from .store import Store, timestamp

Range = tuple[float | None, float | None]


def _bad(message: str) -> BoxError:
    return BoxError(400, "bad_request", message)


def _moment(text: str, name: str) -> float:
    moment = timestamp(text, name)
    assert moment is not None  # text is a non-empty string
    return moment


def date_range(raw: str | None, name: str) -> Range | None:
    """`from,to` with either side empty (`2026-01-01T00:00:00Z,` = from that moment on)."""
    if not raw:
        return None
    low, sep, high = raw.partition(",")
    if not sep:
        raise _bad(f"'{name}' must be 'from,to' (either side may be empty)")
    return (_moment(low, name) if low else None, _moment(high, name) if high else None)


def size_range(raw: str | None) -> Range | None:
    """`lower,upper` in bytes, either side optional."""
    if not raw:
        return None
    low, sep, high = raw.partition(",")
    try:
        bounds = (float(low) if low else None, float(high) if high else None)
    except ValueError:
        raise _bad("'size_range' must be 'lower,upper' in bytes") from None
    if not sep or any(b is not None and b < 0 for b in bounds):
        raise _bad("'size_range' must be 'lower,upper' in bytes (non-negative)")
    return bounds


def within(value: float, bounds: Range | None) -> bool:
    if bounds is None:
        return True
    low, high = bounds
    return (low is None or value >= low) and (high is None or value <= high)


def metadata_filters(raw: str | None, enterprise_scope: str) -> list[dict[str, Any]]:
    """`mdfilters=[{"scope": "enterprise", "templateKey": "...", "filters": {...}}]` (Box takes one)."""
    if not raw:
        return []
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        raise _bad("'mdfilters' must be a JSON array of metadata filters") from None
    if not isinstance(parsed, list) or len(parsed) != 1 or not isinstance(parsed[0], dict):
        raise _bad("'mdfilters' must be a JSON array holding exactly one filter")
    spec = parsed[0]
    scope = spec.get("scope")
    if scope not in ("enterprise", "global", enterprise_scope):
        raise _bad("'mdfilters[0].scope' must be 'enterprise' or 'global'")
    if not isinstance(spec.get("templateKey"), str) or not isinstance(spec.get("filters", {}), dict):
        raise _bad("'mdfilters[0]' needs a 'templateKey' and a 'filters' object")
    resolved = enterprise_scope if scope == "enterprise" else scope
    return [{"scope": resolved, "template_key": spec["templateKey"], "filters": spec.get("filters", {})}]


def _value_matches(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):  # a range: {"gt": ..., "lt": ...} on numbers or dates
        low, high = wanted.get("gt"), wanted.get("lt")
        if isinstance(actual, str):
            try:
                value = _moment(actual, "metadata")
                low = _moment(low, "mdfilters") if isinstance(low, str) else low
                high = _moment(high, "mdfilters") if isinstance(high, str) else high
            except BoxError:
                return False
        elif isinstance(actual, int | float) and not isinstance(actual, bool):
            value = float(actual)
        else:
            return False
        return (low is None or value >= low) and (high is None or value <= high)
    if isinstance(wanted, list):  # multiSelect: any of the listed options
        values = actual if isinstance(actual, list) else [actual]
        return any(v in values for v in wanted)
    if isinstance(actual, str) and isinstance(wanted, str):
        return actual.lower() == wanted.lower()
    return bool(actual == wanted)


def metadata_matches(st: Store, row: sqlite3.Row, filters: list[dict[str, Any]]) -> bool:
    for spec in filters:
        instance = st.fetch_one(
            "SELECT data FROM metadata_instances WHERE item_type = ? AND item_id = ? AND scope = ? "
            "AND template_key = ?",
            (row["type"], row["id"], spec["scope"], spec["template_key"]),
        )
        if instance is None:
            return False
        data = json.loads(instance["data"])
        if not all(key in data and _value_matches(data[key], want) for key, want in spec["filters"].items()):
            return False
    return True
