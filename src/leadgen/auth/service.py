"""Sign-in, API keys and user management."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import TypeVar, TypeVarTuple

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.auth import repository
from leadgen.auth.devices import Device, device_of, device_token, new_device
from leadgen.auth.lockout import SignInLockout
from leadgen.auth.roles import Access, Principal, Role, access_refusal, changed_access, password_refusal
from leadgen.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized, Unavailable
from leadgen.core.security import (
    create_access_token,
    decode_access_token,
    digests_match,
    generate_api_key,
    hash_password,
    split_api_key,
    verify_password,
)
from leadgen.core.settings import Settings
from leadgen.models import ApiKey, Source, User
from leadgen.sources.repository import WEB_FORM_SOURCE
from leadgen.sources.rules import SourceKind
from leadgen.stores.ratelimit import RateLimiter

T = TypeVar("T")
Args = TypeVarTuple("Args")
# As agents' addresses are checked (``agents.schemas``): it also strips the spaces around one.
_EMAIL_ADDRESS = TypeAdapter(EmailStr)
# Said without the address, as every refusal is: an answer names the field, never the value sent.
_EMAIL_TAKEN = "another user has this e-mail address"
# An argon2 hash costs ~0.2 s of CPU and 64 MiB at the production parameters. On the event loop,
# each sign-in would stall every other request of the process, probes included (and every target
# of ``leadgen up``); argon2-cffi releases the GIL, so a thread keeps the loop serving. One thread:
# the api pod has one CPU (k8s/base/api), and a second hashing thread would take it from the loop
# (measured on 2 busy CPUs, 20 sign-ins at once stalled the loop up to ~55 ms with two threads and
# ~35 ms with one; on the loop, every hash stalls it ~0.2 s). More hashes at once queue.
PASSWORD_HASHING_THREADS = 1
_password_hashing = ThreadPoolExecutor(PASSWORD_HASHING_THREADS, thread_name_prefix="password-hashing")
# Hashes queued or running at most (about 1.6 s of work): a request waiting for one holds its
# database connection, so a burst of sign-ins must not take the pool (20) from intake. Beyond it a
# sign-in is a 503 with Retry-After, before any password is checked or any failure counted.
PASSWORD_HASHING_QUEUE = 8
HASHING_BUSY_RETRY_AFTER_SECONDS = 2


class _HashingQueue:
    def __init__(self) -> None:
        self.waiting = 0


_hashing_queue = _HashingQueue()


async def _off_the_loop(work: Callable[[*Args], T], *args: *Args) -> T:
    """``work(*args)`` in a password-hashing thread; ``Unavailable`` when too many wait already."""
    if _hashing_queue.waiting >= PASSWORD_HASHING_QUEUE:
        raise Unavailable("too many sign-ins at once; try again shortly", HASHING_BUSY_RETRY_AFTER_SECONDS)
    _hashing_queue.waiting += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_password_hashing, work, *args)
    finally:
        _hashing_queue.waiting -= 1


@cache
def _dummy_hash() -> str:
    """Verifying against a fixed hash when the user does not exist keeps sign-in time the same
    whether or not the e-mail address is known (made on first use: argon2 costs ~0.25 s)."""
    return hash_password("not-a-real-password")


def _verify_against_dummy(password: str) -> bool:
    return verify_password(_dummy_hash(), password)


async def authenticate(session: AsyncSession, email: str, password: str) -> User:
    """The active user with this e-mail address and password; else ``Unauthorized``."""
    user = await repository.user_by_email(session, email)
    if user is None or not user.active:
        await _off_the_loop(_verify_against_dummy, password)
        raise Unauthorized("wrong e-mail address or password")
    if not await _off_the_loop(verify_password, user.password_hash, password):
        raise Unauthorized("wrong e-mail address or password")
    return user


def _access_token(settings: Settings, user: User) -> str:
    claims = {
        "role": user.role,
        "agent_id": str(user.agent_id) if user.agent_id else None,
        "token_version": user.token_version,
    }
    return create_access_token(
        settings.security.jwt_secret.get_secret_value(),
        str(user.id),
        claims,
        settings.security.access_token_minutes,
    )


async def trusted_device(session: AsyncSession, settings: Settings, email: str, presented: str | None) -> Device | None:
    """The device a presented device token names, when the account signing in trusts it: the
    token is ours and names the active user with this e-mail address at their present password."""
    if not presented:
        return None
    user = await repository.user_by_email(session, email)
    return None if user is None else _device_trusted_by(settings, user, presented)


def _device_trusted_by(settings: Settings, user: User, presented: str | None) -> Device | None:
    """The device a presented token names, when ``user`` trusts it (``devices.device_of``)."""
    if not presented:
        return None
    return device_of(
        settings.security.jwt_secret.get_secret_value(),
        presented,
        user_id=user.id,
        password_hash=user.password_hash,
        device_version=user.device_version,
        active=user.active,
    )


@dataclass(frozen=True)
class SignedIn:
    access_token: str
    # Names the device the sign-in came from: the one the client showed when the account trusts
    # it, else a new one.
    device_token: str


async def sign_in(
    session: AsyncSession,
    settings: Settings,
    lockout: SignInLockout,
    email: str,
    password: str,
    device: Device | None,
) -> SignedIn:
    """An access token and a device token for the right password, unless the account (or the
    trusted ``device`` signing in) or the address is locked out."""
    await lockout.refuse_while_locked()
    try:
        user = await authenticate(session, email, password)
    except Unauthorized:
        await lockout.count_failure()
        raise
    # Failures sent at the same moment may have reached a limit while this password was checked.
    await lockout.refuse_while_locked()
    return _signed_in(settings, user, device)


def _signed_in(settings: Settings, user: User, device: Device | None) -> SignedIn:
    """An access token for ``user``, and a device token for ``device`` (a new one when None)."""
    key = settings.security.jwt_secret.get_secret_value()
    signed_in_device = device or new_device(user.id)
    return SignedIn(
        _access_token(settings, user), device_token(key, signed_in_device, user.password_hash, user.device_version)
    )


def _decoded(settings: Settings, token: str) -> tuple[Principal, int]:
    """The principal a token names and the user's token version it was issued at."""
    claims = decode_access_token(settings.security.jwt_secret.get_secret_value(), token)
    if claims is None:
        raise Unauthorized("the access token is missing, expired or invalid")
    try:
        agent = claims.get("agent_id")
        principal = Principal(uuid.UUID(claims["sub"]), Role(claims["role"]), uuid.UUID(agent) if agent else None)
        # The release before minted tokens without a version; one still signed in during a rolling
        # upgrade reads as version 0. Every user starts at 0 (the column's default, which migration
        # 0010 also gave the users made before it) and any revocation moves it to 1 or more, so
        # such a token is refused once its user signed out, was deactivated or changed role.
        version = claims.get("token_version", 0)
    except (KeyError, ValueError) as exc:
        raise Unauthorized("the access token is malformed") from exc
    if not isinstance(version, int):
        raise Unauthorized("the access token is malformed")
    return principal, version


async def signed_in_principal(session: AsyncSession, settings: Settings, token: str) -> Principal:
    """The token's principal while its user is active, still has the token's role and agent, and has
    not signed out since it was issued (one primary-key read per request)."""
    principal, version = _decoded(settings, token)
    user = await repository.user_by_id(session, principal.user_id)
    if (
        user is None
        or not user.active
        or user.token_version != version
        or (user.role, user.agent_id) != (principal.role, principal.agent_id)
    ):
        raise Unauthorized("the access token was revoked (signed out, or the user's access changed); sign in again")
    return principal


async def sign_out(session: AsyncSession, principal: Principal) -> None:
    """Revoke every access token of the user, on every device: each names an older version now.
    Their device tokens stay trusted (``auth.devices``), so that a sign-out leaves no device of
    theirs to the account lockout."""
    await repository.revoke_tokens(session, principal.user_id)


async def change_own_password(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    principal: Principal,
    client_address: str,
    presented_device_token: str | None,
    current_password: str,
    new_password: str,
) -> SignedIn:
    """Give the signed-in user ``new_password`` when ``current_password`` is theirs; every session
    of theirs ends and every device token goes with the old password, so the answer signs this
    client in again (the device it showed, if trusted, keeps its id).

    A wrong current password counts as a failed sign-in (per account, or per trusted device, and
    per address): a stolen session cannot be used to guess the password without limit. It is
    ``Forbidden`` on ``current_password``; a new password the rules refuse, or the current one
    again, is ``InvalidInput`` on ``new_password``."""
    _refuse_weak_password(new_password, "new_password")
    user = await repository.user_for_update(session, principal.user_id)
    if user is None:  # deleted since its token was checked
        raise Unauthorized("the access token was revoked; sign in again")
    device = _device_trusted_by(settings, user, presented_device_token)
    lockout = SignInLockout(limiter, settings, user.email, client_address, device.device_id if device else None)
    await lockout.refuse_while_locked()
    if not await _off_the_loop(verify_password, user.password_hash, current_password):
        await lockout.count_failure()
        reason = "this is not your current password"
        raise Forbidden(f"the password was not changed: {reason}", [{"field": "current_password", "reason": reason}])
    # Failures sent at the same moment may have reached a limit while this password was checked.
    await lockout.refuse_while_locked()
    # Compared only once the current password is known right: before, the answer would tell a
    # guesser whether the new password they sent is the current one, uncounted.
    if new_password == current_password:
        reason = "the new password must differ from the current one"
        raise InvalidInput(reason, [{"field": "new_password", "reason": reason}])
    await repository.set_password(session, user.id, await _off_the_loop(hash_password, new_password))
    await audit.record(session, principal.label(), "user.password_changed", "user", str(user.id), {})
    await session.refresh(user)  # the token version the update moved on, for the new access token
    return _signed_in(settings, user, device)


async def reset_password(session: AsyncSession, user_id: uuid.UUID, new_password: str, actor: str) -> None:
    """Set a user's password without their current one (an admin, or ``leadgen users set-password``,
    for a forgotten or leaked one; audited). Every session of theirs ends and none of their devices
    is trusted at sign-in any more. Unlike a change of one's own, it is not compared with the
    current password: the answer would tell whoever resets whether the user's password is the one
    they sent."""
    _refuse_weak_password(new_password, "new_password")
    if await repository.user_by_id(session, user_id) is None:
        raise NotFound(f"user {user_id} not found")
    await repository.set_password(session, user_id, await _off_the_loop(hash_password, new_password))
    await audit.record(session, actor, "user.password_reset", "user", str(user_id), {})


def _refuse_weak_password(password: str, field: str) -> None:
    """``InvalidInput`` on ``field`` when ``roles.password_refusal`` refuses the password."""
    reason = password_refusal(password)
    if reason is not None:
        raise InvalidInput(reason, [{"field": field, "reason": reason}])


async def change_access(
    session: AsyncSession, user_id: uuid.UUID, active: bool | None, role: Role | None, actor: str
) -> User:
    """Deactivate or reactivate a user, or give them another role (``roles.access_refusal`` says
    which changes are refused, with ``Conflict``); their tokens stop working at once, and a
    deactivation or reactivation ends the trust of every device of theirs."""
    user = await repository.user_by_id(session, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    before = Access(Role(user.role), user.active, user.agent_id)
    after = changed_access(before, role, active)
    if after == before:
        return user
    other_admins = 0
    if before.active_admin and not after.active_admin:
        other_admins = len(await repository.active_admin_ids(session) - {user_id})
    _refuse_unless_allowed(after, before, other_admins)
    await repository.set_access(session, user_id, after)
    was = _audited(before)
    changes = {name: value for name, value in _audited(after).items() if value != was[name]}
    await audit.record(session, actor, "user.access_changed", "user", str(user_id), changes)
    return user


# The most users a page of the listing holds (``GET /api/v1/auth/users``, ``leadgen users list``).
MAX_USERS_PAGE = 500


async def users(
    session: AsyncSession,
    limit: int,
    before: uuid.UUID | None = None,
    *,
    email: str | None = None,
    agent_id: uuid.UUID | None = None,
    role: Role | None = None,
    active: bool | None = None,
) -> list[User] | None:
    """Up to ``limit`` users passing every filter given, newest first, older than the user
    ``before`` when given; None when ``before`` names no user. ``email`` finds the user sign-in
    finds, in any case; ``agent_id``, the user who signs in as that agent (the one to deactivate
    with the agent, or the agent keeps reading the leads they accepted); ``active``, whether they
    may sign in."""
    position = None
    if before is not None:
        position = await repository.position(session, before)
        if position is None:
            return None
    return await repository.listing(session, limit, position, email=email, agent_id=agent_id, role=role, active=active)


def _audited(access: Access) -> dict[str, bool | str | None]:
    """The access as the audit log records it."""
    return {
        "active": access.active,
        "role": access.role.value,
        "agent_id": str(access.agent_id) if access.agent_id else None,
    }


def _refuse_unless_allowed(after: Access, before: Access | None = None, other_active_admins: int = 0) -> None:
    """``Conflict`` on the field ``roles.access_refusal`` names, when it refuses the access."""
    refusal = access_refusal(after, before, other_active_admins)
    if refusal is not None:
        field, reason = refusal
        raise Conflict(reason, [{"field": field, "reason": reason}])


@dataclass(frozen=True)
class SourceRef:
    """The source a request came from, as intake needs it (not bound to any session)."""

    id: uuid.UUID
    name: str


# Intake checks a key on every lead; a vendor posts in bursts. Keys are cached per process for
# KEY_CACHE_SECONDS, so a revoked key stops working everywhere within that time.
KEY_CACHE_SECONDS = 30.0
_key_cache: dict[str, tuple[float, str, SourceRef]] = {}


async def source_for_key(session: AsyncSession, presented: str, fresh: bool = False) -> SourceRef:
    """The source whose key ``presented`` is; ``fresh`` reads the key from the database whatever
    this process cached (a key revoked a moment ago is refused)."""
    prefix = split_api_key(presented)
    if prefix is None:
        raise Unauthorized("the API key is missing, revoked or wrong")
    cached = _key_cache.get(prefix)
    if fresh or cached is None or cached[0] < time.monotonic():
        found = await repository.key_with_source(session, prefix)
        # A web source's leads come from the quote form, which has no key: a key issued for one
        # before keys were refused for it (which may have made ``web-form`` a vendor source) would
        # post as the form and read the form's leads.
        if found is None or found[1].kind == SourceKind.WEB or found[1].name == WEB_FORM_SOURCE:
            _key_cache.pop(prefix, None)
            raise Unauthorized("the API key is missing, revoked or wrong")
        key, source = found
        cached = (time.monotonic() + KEY_CACHE_SECONDS, key.digest, SourceRef(source.id, source.name))
        _key_cache[prefix] = cached
    if not digests_match(cached[1], presented):
        raise Unauthorized("the API key is missing, revoked or wrong")
    return cached[2]


def _sign_in_email(email: str) -> str:
    """A user's e-mail address as sign-in looks it up (``repository.user_by_email``): without the
    spaces around it that a paste brings (the dashboard strips what is typed at sign-in), and
    lower-cased; ``InvalidInput`` on ``email`` when it is not an e-mail address."""
    try:
        address = _EMAIL_ADDRESS.validate_python(email)
    except ValidationError as exc:
        reason = f"not an e-mail address: {exc.errors()[0].get('ctx', {}).get('reason', 'not understood')}"
        raise InvalidInput(reason, [{"field": "email", "reason": reason}]) from None
    return address.lower()


async def create_user(
    session: AsyncSession, email: str, password: str, role: Role, agent_id: uuid.UUID | None, actor: str
) -> User:
    email = _sign_in_email(email)
    if await repository.user_by_email(session, email):
        raise Conflict(_EMAIL_TAKEN, [{"field": "email", "reason": _EMAIL_TAKEN}])
    _refuse_weak_password(password, "password")
    _refuse_unless_allowed(Access(role, True, agent_id))
    password_hash = await _off_the_loop(hash_password, password)
    user = User(email=email, password_hash=password_hash, role=role.value, agent_id=agent_id)
    session.add(user)
    await session.flush()
    await audit.record(session, actor, "user.created", "user", str(user.id), {"role": role.value})
    return user


async def create_api_key(
    session: AsyncSession, source_name: str, kind: SourceKind | None, actor: str
) -> tuple[Source, str]:
    """A new key for the source (created as ``kind``, vendor unless given, if new); the plaintext is
    returned once, never stored. A kind given for a source of another kind is refused: it would
    otherwise be ignored without a word. So is a key for a web source, the quote form's above all
    (even before its first visitor made it): its holder would post leads as the form and read the
    form's leads, and a vendor source taking the form's name would leave the form without one."""
    source = await repository.source_by_name(session, source_name)
    if source is not None and kind is not None and kind != source.kind:
        raise Conflict(f"source {source_name} is a {source.kind} source, not {kind}; its kind does not change")
    if source_name == WEB_FORM_SOURCE:
        raise Conflict(f"{WEB_FORM_SOURCE} is the quote form's source: the form posts without a key; none is issued")
    if kind == SourceKind.WEB or (source is not None and source.kind == SourceKind.WEB):
        raise Conflict("a web source takes no API key: the agency's quote form posts its leads without one")
    if source is None:
        source = Source(name=source_name, kind=kind or SourceKind.VENDOR)
        session.add(source)
        await session.flush()
    key = generate_api_key()
    session.add(ApiKey(source_id=source.id, prefix=key.prefix, digest=key.digest))
    await audit.record(session, actor, "api_key.created", "source", str(source.id), {"prefix": key.prefix})
    return source, key.plaintext
