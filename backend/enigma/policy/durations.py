"""Durations in the policy file: a number of seconds, or text like "90s", "15m", "4h", "2d"."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

__all__ = ["Duration", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"\s*(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+")


def parse_duration(value: Any) -> float:
    """Seconds from `90`, `2.5`, `"90"`, `"90s"`, `"15m"`, `"4h"`, `"2d"` or `"1h30m"`."""
    # bool is an int in Python; `timeout = true` is a mistake, not one second
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '90s', '15m', '4h', '2d'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _WHOLE.fullmatch(text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            raise ValueError(
                f"{value!r} is not a duration: use seconds (90) or a number with a unit "
                "(ms, s, m, h, d, w), e.g. '90s', '15m', '4h', '2d', '1h30m'"
            )
    else:
        raise ValueError("a duration is a number of seconds or text like '90s', '15m', '4h', '2d'")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("a duration must be zero or more seconds")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 1800 → "30m", 90 → "90s", 86400 → "1d"."""
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
"""Seconds, parsed from a number or from text with a unit."""
