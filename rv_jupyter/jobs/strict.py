"""The base of the job models: frozen, and refusing unknown fields in one line."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

from rv_jupyter.errors import RequestError, clip


class Strict(BaseModel):
    """A frozen model that refuses, in one line naming the valid ones, fields it lacks
    (a misspelt `acount=` would quietly submit without an account)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: object) -> object:
        unknown = [k for k in data if k not in cls.model_fields] if isinstance(data, dict) else []
        if unknown:
            raise RequestError(
                f"Unknown {cls.__name__} field {clip(str(unknown[0]), 40)!r}.",
                hint=f"Valid fields: {', '.join(sorted(cls.model_fields))}.",
            )
        return data
