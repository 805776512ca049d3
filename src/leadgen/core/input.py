"""What every request refuses, whatever endpoint reads it: in its body, and in its query."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from pydantic import BaseModel, field_validator

from leadgen.core.errors import InvalidInput


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


def declared_query_parameters(dependant: Dependant) -> frozenset[str]:
    """The query parameters an endpoint reads: its own and its dependencies', a query model's
    fields by their aliases."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        for param in current.query_params:
            model = param.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                names.update(info.alias or name for name, info in model.model_fields.items())
            else:
                names.add(param.alias)
        pending.extend(current.dependencies)
    return frozenset(names)


async def refuse_unknown_query_parameters(request: Request) -> None:
    """A query parameter the endpoint does not read is refused, naming it: a misspelt filter
    (``?stauts=NEW``, ``?snce=``) would otherwise answer for everything, looking like an answer."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    unknown = sorted(set(request.query_params) - declared_query_parameters(dependant))
    if unknown:
        raise InvalidInput(
            f"unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            [{"field": f"query.{name}", "reason": "is not a parameter of this endpoint"} for name in unknown],
        )
