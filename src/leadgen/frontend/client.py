"""The dashboard's HTTP client for its peers: the api and the data-service.

The frontend has no database; everything it shows comes from these services over HTTP, with the
signed-in user's bearer token. Transports are injectable, so tests (and anything else running
the services in one process) can route the calls to an ASGI app instead of a socket.

Nothing here logs request or response bodies: they carry names, phone numbers and addresses. Nor
does it log paths, only their routes (``/api/v1/opt-outs/email/{token}``): a path may carry a
secret, such as the token of an unsubscribe link, which opts the person out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from leadgen.auth.devices import DEVICE_TOKEN_HEADER
from leadgen.core.http import revision_tag
from leadgen.core.logging import request_id_var
from leadgen.core.security import CLIENT_IP_HEADER, CLIENT_IP_SIGNATURE_HEADER, sign_client_ip
from leadgen.core.settings import Settings

log = logging.getLogger(__name__)

API = "api"
DATA_SERVICE = "data-service"
ORCHESTRATOR = "orchestrator"
PEERS = (API, DATA_SERVICE, ORCHESTRATOR)
# Longer than any page should wait, shorter than the ingress's own timeout.
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
T = TypeVar("T")


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


@dataclass
class ApiError(Exception):
    """A peer answered with a 4xx/5xx problem document. ``signed_in``: the call carried the user's
    token, so a 401 means their session has ended (to anonymous calls, it means no such thing)."""

    status: int
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    signed_in: bool = True

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


@dataclass
class PeerUnavailableError(Exception):
    """A peer could not be reached, timed out or answered with something that is not JSON."""

    peer: str
    reason: str

    def __str__(self) -> str:
        return f"{self.peer} unavailable: {self.reason}"


class _View(BaseModel):
    # Lenient on purpose: the API may add fields without breaking the dashboard.
    model_config = ConfigDict(extra="ignore")


class Me(_View):
    user_id: str
    role: str
    agent_id: str | None = None


class InboxItem(_View):
    assignment_id: str
    lead_id: str
    status: str
    line: str
    state: str
    score: int | None = None
    expires_at: datetime
    lead_status: str | None = None
    outcome: str | None = None  # the agent's own progress with the lead, once accepted
    first_name: str | None = None
    phone: str | None = None
    phone_extension: str | None = None  # None from an api of the release before too
    do_not_contact: bool = False
    contact_states: list[str] = []
    current: bool | None = None  # the api's own split; None from an api of the release before


class LeadSummary(_View):
    id: str
    line: str
    state: str
    status: str
    score: int | None = None
    received_at: datetime
    campaign: str | None = None


class AssignmentView(_View):
    id: str
    agent_id: str
    agent_name: str | None = None
    attempt: int
    status: str
    outcome: str | None = None
    strategy: str
    expires_at: datetime
    return_by: datetime | None = None  # None unless accepted, and from an api of the release before
    explanation: dict[str, Any] = {}


class LeadEvent(_View):
    name: str
    at: datetime
    data: dict[str, Any] = {}


class LeadDetail(_View):
    id: str
    line: str
    state: str
    status: str
    status_reason: str | None = None
    received_at: datetime
    score: int | None = None
    score_factors: dict[str, Any] | None = None
    insights: dict[str, Any] | None = None  # ``insights.schemas.Insight``, as the reader may see it
    duplicate_of_id: str | None = None
    assignment: AssignmentView | None = None
    do_not_contact: bool = False
    contact_states: list[str] = []
    events: list[LeadEvent] = []

    def factors(self) -> list[tuple[str, float]]:
        """The score's factors as (reason, points), whatever model produced them."""
        raw = (self.score_factors or {}).get("factors", [])
        out: list[tuple[str, float]] = []
        for item in raw if isinstance(raw, list) else []:
            if isinstance(item, dict) and "factor" in item:
                points = item.get("points", 0)
                valid = isinstance(points, int | float) and not isinstance(points, bool)
                out.append((str(item["factor"]), points if valid else 0))
        return out

    def probability(self) -> float | None:
        """The model's conversion probability, when the model reports one."""
        value = (self.score_factors or {}).get("probability")
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class FunnelRow(_View):
    source: str
    line: str
    status: str
    leads: int


class PerformanceRow(_View):
    """One group of the performance report; see ``reports.rules.Performance``."""

    key: str | None  # None: the leads sent without a campaign
    agent_id: str | None = None  # by agent: whose row it is (names need not be unique)
    leads: int
    screened_out: int | None = None
    unassigned: int | None = None
    opted_out: int | None = None
    accepted: int
    contacted: int
    converted: int
    returned: int
    sla_breaches: int
    conversion_rate: float | None = None
    median_minutes_to_first_contact: float | None = None
    spend_cents: int
    cost_per_lead_cents: int | None = None
    cost_per_conversion_cents: int | None = None


class PerformanceReport(_View):
    by: str
    since: datetime
    until: datetime
    rows: list[PerformanceRow]


class AgentView(_View):
    id: str
    revision: int
    name: str
    active: bool
    timezone: str
    daily_cap: int
    open_cap: int
    email: str | None = None
    phone: str | None = None
    weight: int = 1
    licences: list[dict[str, Any]] = []
    shifts: list[dict[str, Any]] = []


class UserView(_View):
    """A dashboard user as admins list them (never their password)."""

    id: str
    email: str
    role: str
    active: bool
    agent_id: str | None = None


class SimilarLead(_View):
    lead_id: str
    similarity: float
    line: str | None = None
    state: str | None = None
    outcome: str | None = None
    score: float | None = None


class AuditEntryView(_View):
    id: str
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str | None = None
    data: dict[str, Any] = {}


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntryView]
    older: str | None  # the ``before`` of the next page, older entries; None on the last page


class Accepted(_View):
    id: str
    status: str


class AssignmentResult(_View):
    assignment_id: str
    status: str


def _problem(response: httpx.Response, signed_in: bool) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    errors = [
        FieldError(str(e.get("field", "")), str(e.get("reason", "")))
        for e in body.get("errors", []) or []
        if isinstance(e, dict)
    ]
    detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
    return ApiError(response.status_code, detail, errors, signed_in)


def _body(peer: str, response: httpx.Response) -> Any:
    if response.status_code == httpx.codes.NO_CONTENT:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise PeerUnavailableError(peer, "the answer was not JSON") from exc


def _validated(adapter: TypeAdapter[T], peer: str, route: str, body: Any) -> T:
    try:
        return adapter.validate_python(body)
    except ValidationError as exc:
        raise PeerUnavailableError(peer, f"unexpected answer from {route}") from exc


def _next_before(response: httpx.Response) -> str | None:
    """The ``before`` of the next page that the answer's ``Link`` header names
    (``core.http.next_page``); None when it names none: the page is the last."""
    following = response.links.get("next", {}).get("url")
    return httpx.URL(following).params.get("before") if following else None


def _segment(value: str) -> str:
    """One path segment holding ``value``: a ``/`` is escaped, and a dot segment, which would
    climb to another route, is refused."""
    if value in ("", ".", ".."):
        raise ValueError(f"{value!r} cannot be a path segment")
    return quote(value, safe="")


async def _add_request_id(request: httpx.Request) -> None:
    """Carry the page request's id to the peers, so one id follows a click through the logs."""
    rid = request_id_var.get()
    if rid and "x-request-id" not in request.headers:
        request.headers["x-request-id"] = rid


class Peers:
    """One pooled client per peer; create in the app's lifespan, close after it."""

    def __init__(self, clients: Mapping[str, httpx.AsyncClient], session_secret: str) -> None:
        self._clients = dict(clients)
        self._session_secret = session_secret

    @classmethod
    def create(cls, settings: Settings, transports: Mapping[str, httpx.AsyncBaseTransport] | None = None) -> Peers:
        urls = {
            API: settings.services.api_url,
            DATA_SERVICE: settings.services.data_service_url,
            ORCHESTRATOR: settings.services.orchestrator_url,
        }
        transports = transports or {}
        clients = {
            name: httpx.AsyncClient(
                base_url=str(url),
                transport=transports.get(name),
                timeout=TIMEOUT,
                follow_redirects=False,
                # Peers are in the cluster or on this machine: an egress proxy set for other calls
                # (an LLM provider's) must never see the passwords and tokens passed to them.
                trust_env=False,
                event_hooks={"request": [_add_request_id]},
                headers={"accept": "application/json", "user-agent": "leadgen-frontend"},
            )
            for name, url in urls.items()
        }
        return cls(clients, settings.security.session_secret.get_secret_value())

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def _send(
        self,
        peer: str,
        method: str,
        route: str,
        token: str | None = None,
        *,
        path_params: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Call ``route`` with its ``{names}`` filled from ``path_params``; only the route is logged.
        The answer when it is a success; a refusal is raised as the ApiError it makes."""
        path = route.format_map({name: _segment(value) for name, value in (path_params or {}).items()})
        headers: dict[str, str] = dict(kwargs.pop("headers", {}))
        if token:
            headers["authorization"] = f"Bearer {token}"
        try:
            response = await self._clients[peer].request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            log.warning("%s %s to %s failed: %s", method, route, peer, type(exc).__name__)
            raise PeerUnavailableError(peer, type(exc).__name__) from exc
        if response.status_code >= 500:
            log.warning("%s %s to %s answered %s", method, route, peer, response.status_code)
            raise PeerUnavailableError(peer, f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise _problem(response, signed_in=token is not None)
        return response

    async def _call(self, peer: str, method: str, route: str, token: str | None = None, **kwargs: Any) -> Any:
        """The body of ``_send``'s answer: None when there is none (204), else its JSON."""
        return _body(peer, await self._send(peer, method, route, token, **kwargs))

    async def _as(
        self,
        adapter: TypeAdapter[T],
        peer: str,
        method: str,
        route: str,
        token: str | None,
        **kwargs: Any,
    ) -> T:
        return _validated(adapter, peer, route, await self._call(peer, method, route, token, **kwargs))

    # --- the api -----------------------------------------------------------------------------

    async def api_ready(self, request_id: str) -> None:
        """Readiness of the api, as its own /readyz reports it."""
        response = await self._clients[API].get("/readyz", headers={"x-request-id": request_id})
        response.raise_for_status()

    def _vouched_address(self, client_ip: str | None) -> dict[str, str]:
        """Headers naming the browser's address, signed so that the api believes only the frontend."""
        if not client_ip:
            return {}
        signature = sign_client_ip(self._session_secret, client_ip)
        return {CLIENT_IP_HEADER: client_ip, CLIENT_IP_SIGNATURE_HEADER: signature}

    async def sign_in(self, email: str, password: str, client_ip: str | None, device_token: str | None) -> SignedIn:
        """An access token and the browser's device token; the api limits failed sign-ins per
        account (per device instead, for the browser's own ``device_token`` of the account) and
        per browser address."""
        form = {"username": email, "password": password}
        headers = self._vouched_address(client_ip)
        if device_token:
            headers[DEVICE_TOKEN_HEADER] = device_token
        return await self._as(_SIGNED_IN, API, "POST", "/api/v1/auth/token", None, data=form, headers=headers)

    async def sign_out(self, token: str) -> None:
        """Revoke the user's access tokens at the api (this one and every other)."""
        await self._call(API, "POST", "/api/v1/auth/logout", token)

    async def change_password(self, token: str, current: str, new: str, client_ip: str | None) -> SignedIn:
        """Change the signed-in user's password: every session of theirs ends, and the answer signs
        this browser in again. A wrong current password counts as a failed sign-in from the browser's
        address (and the account: the device cookie is sent only to the sign-in form)."""
        body = {"current_password": current, "new_password": new}
        headers = self._vouched_address(client_ip)
        path = "/api/v1/auth/me/password"
        return await self._as(_SIGNED_IN, API, "POST", path, token, json=body, headers=headers)

    async def me(self, token: str) -> Me:
        return await self._as(_ME, API, "GET", "/api/v1/auth/me", token)

    async def inbox(self, token: str, limit: int, before: str | None = None) -> list[InboxItem]:
        """The current offers and up to ``limit`` past ones; with ``before``, the past offers older
        than that one only."""
        params: dict[str, str | int] = {"limit": limit} | ({"before": before} if before else {})
        return await self._as(_INBOX, API, "GET", "/api/v1/assignments", token, params=params)

    async def accept(self, token: str, assignment_id: str) -> AssignmentResult:
        route, at = "/api/v1/assignments/{assignment_id}/accept", {"assignment_id": assignment_id}
        return await self._as(_RESULT, API, "POST", route, token, path_params=at)

    async def reject(self, token: str, assignment_id: str, reason: str) -> AssignmentResult:
        route, at = "/api/v1/assignments/{assignment_id}/reject", {"assignment_id": assignment_id}
        return await self._as(_RESULT, API, "POST", route, token, path_params=at, json={"reason": reason})

    async def record_outcome(self, token: str, lead_id: str, status: str, note: str | None) -> Accepted:
        body = {"status": status, "note": note}
        route, at = "/api/v1/leads/{lead_id}/outcome", {"lead_id": lead_id}
        return await self._as(_ACCEPTED, API, "POST", route, token, path_params=at, json=body)

    async def return_lead(self, token: str, lead_id: str, reason: str, detail: str | None) -> Accepted:
        body = {"reason": reason, "detail": detail}
        route, at = "/api/v1/leads/{lead_id}/return", {"lead_id": lead_id}
        return await self._as(_ACCEPTED, API, "POST", route, token, path_params=at, json=body)

    async def reopen(self, token: str, lead_id: str, note: str | None) -> Accepted:
        route, at = "/api/v1/leads/{lead_id}/reopen", {"lead_id": lead_id}
        return await self._as(_ACCEPTED, API, "POST", route, token, path_params=at, json={"note": note})

    async def lead(self, token: str, lead_id: str) -> LeadDetail:
        return await self._as(_LEAD, API, "GET", "/api/v1/leads/{lead_id}", token, path_params={"lead_id": lead_id})

    async def leads(self, token: str, status: str | None, limit: int, offset: int) -> list[LeadSummary]:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        return await self._as(_LEADS, API, "GET", "/api/v1/leads", token, params=params)

    async def users(self, token: str, filters: Mapping[str, str]) -> list[UserView]:
        """The dashboard's users passing ``filters`` (the api's parameters, such as ``agent_id``;
        admins), newest first: the api's first page of them."""
        return await self._as(_USERS, API, "GET", "/api/v1/auth/users", token, params=dict(filters))

    async def change_access(self, token: str, user_id: str, changes: dict[str, Any]) -> UserView:
        """An admin changes a user's access: ``{"active": False}`` turns their sign-in off, ending
        every session of theirs at once."""
        route, at = "/api/v1/auth/users/{user_id}", {"user_id": user_id}
        return await self._as(_USER, API, "PATCH", route, token, path_params=at, json=changes)

    async def quote_request(
        self, payload: dict[str, Any], client_ip: str | None, submission_key: str | None
    ) -> Accepted:
        """Submit the public quote form: what the person entered and whether they ticked the consent
        box (``quote.payload``). The api limits submissions per browser address, and records the
        address it is vouched for as the one the consent was given from. ``submission_key`` names
        the rendered form (``quote.submission_key``): the api answers the same form sent again with
        the lead stored the first time, and refuses it with other answers (409)."""
        headers = self._vouched_address(client_ip)
        if submission_key:
            headers[IDEMPOTENCY_KEY_HEADER] = submission_key
        path = "/api/v1/quote-requests"
        return await self._as(_ACCEPTED, API, "POST", path, None, json=payload, headers=headers)

    async def opt_out_link(self, token: str) -> None:
        """The person confirmed the unsubscribe link of an e-mail (the token is the link's own)."""
        await self._call(API, "POST", "/api/v1/opt-outs/email/{token}", path_params={"token": token})

    async def opt_out_person(self, token: str, person: dict[str, str]) -> list[str]:
        """Staff list a person by phone number and/or e-mail address; the leads it barred."""
        answer = await self._call(API, "POST", "/api/v1/opt-outs", token, json=person)
        return [str(lead) for lead in answer.get("leads", [])] if isinstance(answer, dict) else []

    async def opt_out_lead(self, token: str, lead_id: str) -> None:
        """The person behind the lead asked the agent or staff not to be contacted."""
        await self._call(API, "POST", "/api/v1/leads/{lead_id}/opt-out", token, path_params={"lead_id": lead_id})

    # --- the data-service --------------------------------------------------------------------

    async def funnel(self, token: str) -> list[FunnelRow]:
        return await self._as(_FUNNEL, DATA_SERVICE, "GET", "/api/v1/reports/funnel", token)

    async def agents(self, token: str) -> list[AgentView]:
        return await self._as(_AGENTS, DATA_SERVICE, "GET", "/api/v1/agents", token)

    async def agent(self, token: str, agent_id: str) -> AgentView:
        at = {"agent_id": agent_id}
        return await self._as(_AGENT, DATA_SERVICE, "GET", "/api/v1/agents/{agent_id}", token, path_params=at)

    async def change_agent(
        self, token: str, agent_id: str, changes: dict[str, Any], revision: int | None = None
    ) -> AgentView:
        """An admin changes the fields given; ``{"active": False}`` deactivates the agent. With
        ``revision``, only if the agent is still at it (else an ApiError of 412)."""
        route, at = "/api/v1/agents/{agent_id}", {"agent_id": agent_id}
        seen = {"if-match": revision_tag(revision)} if revision is not None else {}
        return await self._as(_AGENT, DATA_SERVICE, "PATCH", route, token, path_params=at, json=changes, headers=seen)

    async def performance(
        self, token: str, by: str, since: datetime | None = None, until: datetime | None = None
    ) -> PerformanceReport:
        params = {"by": by} | {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v is not None}
        return await self._as(_PERFORMANCE, DATA_SERVICE, "GET", "/api/v1/reports/performance", token, params=params)

    async def audit_log(
        self, token: str, filters: Mapping[str, str], limit: int, before: str | None = None
    ) -> AuditPage:
        """Up to ``limit`` entries of the audit log (admins), newest first: those passing
        ``filters`` (the data-service's parameters, which it judges), older than the entry
        ``before`` when given."""
        params: dict[str, str | int] = {name: value for name, value in filters.items()}
        params |= {"limit": limit} | ({"before": before} if before else {})
        route = "/api/v1/audit"
        response = await self._send(DATA_SERVICE, "GET", route, token, params=params)
        entries = _validated(_AUDIT, DATA_SERVICE, route, _body(DATA_SERVICE, response))
        return AuditPage(entries, _next_before(response))

    async def search(self, token: str, params: dict[str, str]) -> list[SimilarLead]:
        return await self._as(_SIMILAR, ORCHESTRATOR, "GET", "/api/v1/search", token, params=params)


class SignedIn(_View):
    access_token: str
    # None from an api of the release before, mid-rollout.
    device_token: str | None = None


_SIGNED_IN = TypeAdapter(SignedIn)
_RESULT = TypeAdapter(AssignmentResult)
_ACCEPTED = TypeAdapter(Accepted)
_ME = TypeAdapter(Me)
_INBOX = TypeAdapter(list[InboxItem])
_LEAD = TypeAdapter(LeadDetail)
_LEADS = TypeAdapter(list[LeadSummary])
_FUNNEL = TypeAdapter(list[FunnelRow])
_PERFORMANCE = TypeAdapter(PerformanceReport)
_AGENTS = TypeAdapter(list[AgentView])
_AGENT = TypeAdapter(AgentView)
_USERS = TypeAdapter(list[UserView])
_USER = TypeAdapter(UserView)
_SIMILAR = TypeAdapter(list[SimilarLead])
_AUDIT = TypeAdapter(list[AuditEntryView])
