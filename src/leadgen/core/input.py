"""What every request body refuses, whatever endpoint reads it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, field_validator


def refuse_nul(value: Any) -> Any:
    """A NUL character is in no name, note or answer a person types, and PostgreSQL cannot store
    one: refused here, naming the field, rather than failing the insert (a 500, where SQLite would
    have stored it)."""
    texts = value if isinstance(value, list) else [value]
    if any(isinstance(text, str) and "\x00" in text for text in texts):
        raise ValueError("must not contain a NUL character (\\u0000)")
    return value


class RequestBody(BaseModel):
    """The base of every model a request body is read into."""

    _texts_without_nul = field_validator("*", mode="after")(refuse_nul)
