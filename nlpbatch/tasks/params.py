"""Task parameters: their types, defaults and coercion from strings, and those every task takes."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nlpbatch.errors import InvalidParameter


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest known name, or '' when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One task parameter: its type, default, allowed values and meaning."""

    type: str  # "int", "float", "bool", "str", "str_list", "float_or_none", "int_or_none"
    default: Any
    help: str
    choices: tuple[Any, ...] = ()

    def coerce(self, name: str, value: Any) -> Any:
        """The value converted to this parameter's type, or InvalidParameter."""
        try:
            out = _COERCE[self.type](value)
        except (TypeError, ValueError) as exc:
            raise InvalidParameter(f"parameter {name!r} expects {self.type}, got {value!r} ({exc})") from None
        if self.choices and out not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise InvalidParameter(f"parameter {name!r} must be one of: {allowed}; got {out!r}")
        return out


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in _TRUE | _FALSE:
        return v.lower() in _TRUE
    raise ValueError("not a boolean")


def _to_int(v: Any) -> int:
    if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
        raise ValueError("not an integer")
    return int(v)


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError("not a number")
    return float(v)


def _to_str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("not a string")
    return v


def _to_str_list(v: Any) -> list[str]:
    if isinstance(v, str):
        v = json.loads(v) if v.lstrip().startswith("[") else [s.strip() for s in v.split(",") if s.strip()]
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise ValueError("not a list of strings")
    return v


def _optional(fn: Any) -> Any:
    def conv(v: Any) -> Any:
        if v is None or (isinstance(v, str) and v.lower() in {"none", "null", ""}):
            return None
        return fn(v)

    return conv


_COERCE = {
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "str": _to_str,
    "str_list": _to_str_list,
    "int_or_none": _optional(_to_int),
    "float_or_none": _optional(_to_float),
    "str_list_or_none": _optional(_to_str_list),
}


COMMON_PARAMS: dict[str, Param] = {
    "batch_size": Param("int", 32, "most documents in one model call"),
    "max_batch_tokens": Param(
        "int_or_none",
        None,
        "most padded tokens in one model call; batches are formed by length (default: 512 on "
        "a CPU, 2048 with --backend openvino, 8192 on a GPU)",
    ),
    "max_length": Param(
        "int_or_none", None, "truncate inputs to this many tokens (default: the model's limit)"
    ),
    "sort_window": Param("int", 0, "texts sorted by length together, within a chunk (0: 10 x batch_size)"),
}
