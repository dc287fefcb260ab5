"""What a task is to the producer: its inputs, typed parameters, default model and output fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nlpbatch.errors import InvalidParameter
from nlpbatch.tasks.params import COMMON_PARAMS, Param, did_you_mean


@dataclass(frozen=True)
class TaskSpec:
    """What a task reads, what it takes as parameters, and what its records carry."""

    name: str
    description: str
    aliases: tuple[str, ...]
    input_fields: tuple[str, ...]
    params: dict[str, Param]
    default_model: str
    # Output field -> type, which fixes the Parquet schema: "string", "float", "int",
    # "float_list", "string_list", "int_list", or "json" (nested values, inferred).
    output_fields: dict[str, str]
    optional_fields: tuple[str, ...] = ()
    #: Inputs given either as a job parameter or as a column of the corpus (zero-shot labels).
    param_or_field: tuple[str, ...] = ()

    def validate_params(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Every parameter with its default filled in; unknown names or bad types raise."""
        known = {**COMMON_PARAMS, **self.params}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            valid = ", ".join(sorted(known)) or "none"
            hints = "".join(did_you_mean(name, known) for name in unknown)
            raise InvalidParameter(
                f"unknown parameter(s) {', '.join(unknown)} for task {self.name!r}; valid: {valid}{hints}"
            )
        out = {name: p.default for name, p in known.items()}
        for name, value in raw.items():
            out[name] = known[name].coerce(name, value)
        return out


@dataclass(frozen=True)
class GenerationSpec(TaskSpec):
    """A generative task: its decoding parameters are also checked against each other."""

    def validate_params(self, raw: dict[str, Any]) -> dict[str, Any]:
        out = super().validate_params(raw)
        if out["do_sample"] and out["num_beams"] not in (None, 1):
            raise InvalidParameter("do_sample takes num_beams=1 (beam sampling is not supported)")
        for name in ("max_new_tokens", "num_beams", "top_k"):
            if out[name] is not None and out[name] < (0 if name == "top_k" else 1):
                raise InvalidParameter(f"parameter {name!r} must be positive, got {out[name]}")
        if out["temperature"] is not None and out["temperature"] <= 0:
            raise InvalidParameter(f"parameter 'temperature' must be above 0, got {out['temperature']}")
        if out["top_p"] is not None and not 0 < out["top_p"] <= 1:
            raise InvalidParameter(f"parameter 'top_p' must be in (0, 1], got {out['top_p']}")
        return out
