"""Signing dashboard users in and out, and what they may do."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from leadgen.auth import service
from leadgen.auth.deps import AdminPrincipal, ClientAddress, CurrentPrincipal, SignInAttemptDep
from leadgen.auth.devices import DEVICE_TOKEN_HEADER
from leadgen.auth.roles import MIN_PASSWORD_LENGTH, Role
from leadgen.core.deps import ResourcesDep, SessionDep, SettingsDep
from leadgen.core.errors import InvalidInput
from leadgen.core.http import newest_first_page_answers, next_page
from leadgen.core.input import RequestBody, refuse_nul

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)
    device_token: str = Field(
        description=f"Keep it, and send it with every later sign-in to this account from this client as "
        f"the {DEVICE_TOKEN_HEADER} header: those sign-ins are then limited per device, not per account. "
        "It survives sign-out; it stops counting when the password changes or the user is deactivated, "
        "for good: reactivating the user does not bring it back."
    )


class Me(BaseModel):
    user_id: str
    role: str
    agent_id: str | None


class AccessChange(RequestBody):
    """What to change; a field left out stays as it is."""

    active: bool | None = None
    role: Role | None = None


# Passwords are SecretStr: they show as stars wherever a body is printed or logged.
class PasswordChange(RequestBody):
    current_password: SecretStr
    new_password: SecretStr = Field(
        description=f"At least {MIN_PASSWORD_LENGTH} characters, and not the current password"
    )


class PasswordReset(RequestBody):
    new_password: SecretStr = Field(description=f"At least {MIN_PASSWORD_LENGTH} characters")


class UserAccess(BaseModel):
    id: uuid.UUID
    email: str
    role: str
    active: bool


class UserPublic(UserAccess):
    """A user as admins list them: their access, the agent they sign in as, since when they exist."""

    model_config = ConfigDict(from_attributes=True)

    agent_id: uuid.UUID | None
    created_at: datetime


class UserPageQuery(BaseModel):
    """A page of the users, newest first, of every filter given."""

    limit: int = Field(100, ge=1, le=service.MAX_USERS_PAGE, description="The most users in the answer.")
    before: uuid.UUID | None = Field(
        None,
        description="The next page: only users created before this one (the `id` of the last user of the page "
        "before; the answer's `Link` header names the next page).",
    )
    email: str | None = Field(
        None, min_length=1, max_length=254, description="The user with this sign-in address, in any case."
    )
    agent_id: uuid.UUID | None = Field(None, description="The user who signs in as this agent.")
    role: Role | None = None
    active: bool | None = Field(None, description="Whether they may sign in.")

    _email_without_nul = field_validator("email")(refuse_nul)


# Sign-in limits fail closed (``stores.ratelimit``): an uncounted try would be an unlimited guess.
LIMITS_UNAVAILABLE = {"description": "The store of the sign-in limits does not answer; try again after Retry-After"}


@router.post(
    "/token",
    responses={
        401: {"description": "Wrong e-mail address or password"},
        429: {
            "description": "Too many failed sign-ins to this account (or from this device) or from this "
            "address; the detail says how long"
        },
        503: LIMITS_UNAVAILABLE,
    },
)
async def sign_in(attempt: SignInAttemptDep, session: SessionDep, settings: SettingsDep) -> Token:
    """Exchange an e-mail address (as `username`) and password for an access token, and a device
    token for this client.

    Failed sign-ins are limited per account and per client address; while a limit is reached,
    every sign-in it covers gets 429, with the right password too. A sign-in that sends the device
    token of an earlier sign-in to the same account (`X-Device-Token`) is limited per device
    instead of per account, so that others' failures do not lock the user out of their account.
    """
    signed_in = await service.sign_in(
        session, settings, attempt.lockout, attempt.email, attempt.password, attempt.device
    )
    return Token(access_token=signed_in.access_token, device_token=signed_in.device_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses={401: {"description": "No valid token"}})
async def sign_out(principal: CurrentPrincipal, session: SessionDep) -> None:
    """Sign out everywhere: every access token of the user issued so far stops working."""
    await service.sign_out(session, principal)


@router.post(
    "/me/password",
    responses={
        401: {"description": "No valid token"},
        403: {"description": "Wrong current password (field current_password); counted as a failed sign-in"},
        422: {"description": "The new password is too short or the current one (field new_password)"},
        429: {"description": "Too many failed sign-ins to this account (or from this device) or from this address"},
        503: LIMITS_UNAVAILABLE,
    },
)
async def change_password(
    change: Annotated[PasswordChange, Body()],
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    resources: ResourcesDep,
    address: ClientAddress,
    presented_device_token: Annotated[
        str | None,
        Header(
            alias=DEVICE_TOKEN_HEADER,
            description="The `device_token` of this client's sign-in: failures are then counted per device",
        ),
    ] = None,
) -> Token:
    """Change the signed-in user's own password. Every session of the user ends, on every device,
    and every device token goes with the old password: the answer holds a new access token and
    device token for this client, which carries on with them; other clients sign in again.

    A wrong current password counts as a failed sign-in, against the same limits (429 once one
    is reached, the right password too)."""
    if resources.limiter is None:
        raise RuntimeError(f"{resources.process_name} was built without a rate limiter; password changes need one")
    signed_in = await service.change_own_password(
        session,
        settings,
        resources.limiter,
        principal,
        address,
        presented_device_token,
        change.current_password.get_secret_value(),
        change.new_password.get_secret_value(),
    )
    return Token(access_token=signed_in.access_token, device_token=signed_in.device_token)


@router.get("/me")
async def whoami(principal: CurrentPrincipal) -> Me:
    """The signed-in user."""
    return Me(
        user_id=str(principal.user_id),
        role=principal.role,
        agent_id=str(principal.agent_id) if principal.agent_id else None,
    )


@router.get(
    "/users",
    responses=newest_first_page_answers("users")
    | {401: {"description": "No valid token"}, 403: {"description": "Not an admin"}},
)
async def list_users(
    _: AdminPrincipal,
    session: SessionDep,
    query: Annotated[UserPageQuery, Query()],
    request: Request,
    response: Response,
) -> list[UserPublic]:
    """The dashboard's users (admins), newest first, ``limit`` at a time, filtered by sign-in
    address, agent, role and whether they may sign in: the `id` to deactivate one with
    `PATCH /api/v1/auth/users/{id}`. Deactivating an agent does not end their sign-in; `agent_id`
    finds it. The next page is ``before`` the ``id`` of the last user, with the same filters: the
    ``Link`` header names it while there are more."""
    # One user more than the page says whether another page follows.
    found = await service.users(
        session,
        query.limit + 1,
        query.before,
        email=query.email,
        agent_id=query.agent_id,
        role=query.role,
        active=query.active,
    )
    if found is None:
        raise InvalidInput("before names no user", [{"field": "query.before", "reason": "names no user"}])
    return [UserPublic.model_validate(user) for user in next_page(request, response, found, query.limit)]


@router.patch(
    "/users/{user_id}",
    responses={
        404: {"description": "No such user"},
        409: {
            "description": "Not allowed: the role agent for a user linked to no agent, or the last active "
            "admin deactivated or given another role"
        },
    },
)
async def change_access(
    user_id: uuid.UUID, change: Annotated[AccessChange, Body()], principal: AdminPrincipal, session: SessionDep
) -> UserAccess:
    """Deactivate or reactivate a user, or give them another role (admins; audited). The user's
    access tokens stop working at once; they sign in again to act in the new role. A deactivation or
    reactivation also ends the trust of their devices: a sign-in with a device token of before is
    counted per account, and gets a new device token. A user given a role other than agent is no
    longer linked to their agent; the role agent needs a user linked to one (``leadgen users create
    --role agent``), and the last active admin stays one."""
    user = await service.change_access(session, user_id, change.active, change.role, principal.label())
    return UserAccess(id=user.id, email=user.email, role=user.role, active=user.active)


@router.post(
    "/users/{user_id}/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        404: {"description": "No such user"},
        422: {"description": "The new password is too short (field new_password)"},
    },
)
async def reset_password(
    user_id: uuid.UUID, reset: Annotated[PasswordReset, Body()], principal: AdminPrincipal, session: SessionDep
) -> None:
    """Set a user's password, for a forgotten or leaked one (admins; audited). Every session of
    the user ends, and none of their devices is trusted at sign-in until it signs in again with
    the new password."""
    await service.reset_password(session, user_id, reset.new_password.get_secret_value(), principal.label())
