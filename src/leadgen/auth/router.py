"""Sign-in for dashboard users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from leadgen.auth import service
from leadgen.auth.deps import CurrentPrincipal
from leadgen.core.deps import SessionDep, SettingsDep

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)


class Me(BaseModel):
    user_id: str
    role: str
    agent_id: str | None


@router.post("/token", responses={401: {"description": "Wrong e-mail address or password"}})
async def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep
) -> Token:
    """Exchange an e-mail address (as `username`) and password for an access token."""
    return Token(access_token=await service.authenticate(session, settings, form.username, form.password))


@router.get("/me")
async def whoami(principal: CurrentPrincipal) -> Me:
    """The signed-in user."""
    return Me(
        user_id=str(principal.user_id),
        role=principal.role,
        agent_id=str(principal.agent_id) if principal.agent_id else None,
    )
