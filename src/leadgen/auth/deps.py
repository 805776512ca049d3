"""Authentication dependencies: bearer tokens for people, API keys for lead sources."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer, OAuth2PasswordRequestForm

from leadgen.auth import service
from leadgen.auth.lockout import SignInLockout
from leadgen.auth.roles import Principal, Role
from leadgen.core.deps import ResourcesDep, SessionDep, SettingsDep
from leadgen.core.errors import Forbidden, RateLimited, Unauthorized
from leadgen.core.security import CLIENT_IP_HEADER, CLIENT_IP_SIGNATURE_HEADER, vouched_client_ip

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


async def current_principal(
    session: SessionDep, settings: SettingsDep, token: Annotated[str | None, Depends(_bearer)]
) -> Principal:
    if not token:
        raise Unauthorized("sign in first: send an access token as 'Authorization: Bearer <token>'")
    return await service.signed_in_principal(session, settings, token)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")
        return principal

    return check


StaffPrincipal = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.MANAGER))]
AdminPrincipal = Annotated[Principal, Depends(require_roles(Role.ADMIN))]


async def intake_source(
    session: SessionDep,
    resources: ResourcesDep,
    settings: SettingsDep,
    key: Annotated[str | None, Depends(_api_key)],
) -> service.SourceRef:
    if not key:
        raise Unauthorized("send the source's API key in the X-API-Key header")
    source = await service.source_for_key(session, key)
    if resources.limiter and not await resources.limiter.hit(settings.intake.rate_limit, "intake", str(source.id)):
        raise RateLimited(f"more than {settings.intake.rate_limit} leads from this source; slow down")
    return source


IntakeSource = Annotated[service.SourceRef, Depends(intake_source)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def client_address(request: Request, settings: SettingsDep) -> str:
    """The caller's address: the browser's when the frontend vouches for it, else the connection's."""
    vouched = vouched_client_ip(
        settings.security.session_secret.get_secret_value(),
        request.headers.get(CLIENT_IP_HEADER),
        request.headers.get(CLIENT_IP_SIGNATURE_HEADER),
    )
    return vouched or client_ip(request)


async def sign_in_lockout(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    resources: ResourcesDep,
    settings: SettingsDep,
    address: Annotated[str, Depends(client_address)],
) -> SignInLockout:
    if resources.limiter is None:
        raise RuntimeError(f"{resources.process_name} was built without a rate limiter; sign-in needs one")
    return SignInLockout(resources.limiter, settings, form.username, address)


SignInLockoutDep = Annotated[SignInLockout, Depends(sign_in_lockout)]
