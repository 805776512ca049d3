"""Authentication dependencies: bearer tokens for people, API keys for lead sources."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer, OAuth2PasswordRequestForm

from leadgen.auth import service
from leadgen.auth.devices import DEVICE_TOKEN_HEADER, Device
from leadgen.auth.lockout import SignInLockout
from leadgen.auth.roles import Principal, Role
from leadgen.core.deps import ResourcesDep, SessionDep, SettingsDep
from leadgen.core.errors import Forbidden, RateLimited, Unauthorized
from leadgen.core.security import CLIENT_IP_HEADER, CLIENT_IP_SIGNATURE_HEADER, vouched_client_ip
from leadgen.core.settings import Settings

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)
# What the caller sent, if anything: a user's access token, a source's API key.
BearerToken = Annotated[str | None, Depends(_bearer)]
ApiKey = Annotated[str | None, Depends(_api_key)]


async def current_principal(session: SessionDep, settings: SettingsDep, token: BearerToken) -> Principal:
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
    session: SessionDep, resources: ResourcesDep, settings: SettingsDep, key: ApiKey
) -> service.SourceRef:
    if not key:
        raise Unauthorized("send the source's API key in the X-API-Key header")
    source = await service.source_for_key(session, key)
    # Fails open while Redis does not answer: intake stores the lead and its outbox event in the
    # database alone, and a known source's key was just checked; refusing would lose the vendor's
    # leads to guard against a flood only the per-source limit would have caught.
    limiter, rule = resources.limiter, settings.intake.rate_limit
    wait = await limiter.wait_after_hit_failing_open(rule, "intake", str(source.id)) if limiter else 0
    if wait:
        raise RateLimited(f"more than {rule} leads from this source; slow down", retry_after=wait)
    return source


IntakeSource = Annotated[service.SourceRef, Depends(intake_source)]


def _frontend_vouched(request: Request, settings: Settings) -> str | None:
    """The browser's address the frontend names in its signed headers; None without them, or with
    a signature the session secret did not make."""
    return vouched_client_ip(
        settings.security.session_secret.get_secret_value(),
        request.headers.get(CLIENT_IP_HEADER),
        request.headers.get(CLIENT_IP_SIGNATURE_HEADER),
    )


async def client_address(request: Request, settings: SettingsDep) -> str:
    """The caller's address: the browser's when the frontend vouches for it, else the connection's
    ("unknown" when the server names none). Limits count it by ``core.security.counted_address``."""
    return _frontend_vouched(request, settings) or (request.client.host if request.client else "unknown")


ClientAddress = Annotated[str, Depends(client_address)]


async def frontend_vouched_address(request: Request, settings: SettingsDep) -> str:
    """The browser's address, for a request only the frontend may make: the quote form's, whose
    CSRF token and trap input stand between a script and the consent it records as the person's.
    Any other caller is refused (403), before anything is counted or stored."""
    vouched = _frontend_vouched(request, settings)
    if vouched is None:
        raise Forbidden(
            "a quote request comes through the quote form; lead vendors post to /api/v1/leads with their API key"
        )
    return vouched


FrontendVouchedAddress = Annotated[str, Depends(frontend_vouched_address)]


@dataclass(frozen=True)
class SignInAttempt:
    """A sign-in form as sent (the e-mail address as ``username``), the device it comes from when
    the account trusts it, and the limits it is subject to."""

    email: str
    password: str
    device: Device | None
    lockout: SignInLockout


async def sign_in_attempt(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    resources: ResourcesDep,
    settings: SettingsDep,
    address: ClientAddress,
    presented_device_token: Annotated[
        str | None,
        Header(
            alias=DEVICE_TOKEN_HEADER,
            description="The `device_token` of an earlier sign-in to this account from this client",
        ),
    ] = None,
) -> SignInAttempt:
    # The form is declared here only: declared by the endpoint too, each of its fields would be
    # validated, and reported, twice.
    if resources.limiter is None:
        raise RuntimeError(f"{resources.process_name} was built without a rate limiter; sign-in needs one")
    device = await service.trusted_device(session, settings, form.username, presented_device_token)
    # The lockout fails closed: while Redis does not answer, every sign-in is refused (503 with
    # Retry-After, from the limiter), since one let through uncounted is an unlimited guess.
    lockout = SignInLockout(resources.limiter, settings, form.username, address, device.device_id if device else None)
    return SignInAttempt(form.username, form.password, device, lockout)


SignInAttemptDep = Annotated[SignInAttempt, Depends(sign_in_attempt)]
