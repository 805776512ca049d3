"""Notification jobs: render, check the rules again at send time, send, record; retried with backoff."""

from __future__ import annotations

import logging
import smtplib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from celery import shared_task
from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.compliance import service as compliance
from leadgen.core.metrics import TASKS
from leadgen.core.runtime import TaskRuntime, task_runtime
from leadgen.core.security import keyed_hash
from leadgen.core.settings import Settings
from leadgen.models import Lead, Notification
from leadgen.models.base import utcnow
from leadgen.notifications import service
from leadgen.notifications.email import SEND_SECONDS, send_email
from leadgen.notifications.service import Outbound
from leadgen.notifications.sms import TEXT_REFUSED, RecipientOptedOut, SmsError, send_sms
from leadgen.outbox import repository as outbox
from leadgen.outbox.repository import LEGACY_ACKNOWLEDGE_TOPIC, LEGACY_OFFER_TOPIC, REQUESTED_AGAIN_TOPIC, ROUND_TOPIC

T = TypeVar("T")
log = logging.getLogger(__name__)
RETRYABLE = (OSError, smtplib.SMTPException, SmsError)
# The SMTP reply to MAIL of a server that wants us to authenticate first (RFC 4954 §6).
AUTHENTICATION_REQUIRED = 530
RETRY_BACKOFF_MAX = timedelta(seconds=300)
# Why a text the SMS provider refused because its recipient replied STOP to our number is blocked.
OPTED_OUT_AT_PROVIDER = "the number opted out of our texts at the SMS provider"
# How long one message's send may take before its timeouts end it: an e-mail, however slowly a live
# server answers, ``email.SEND_SECONDS`` (the end of its data waited on for minutes, the rest
# bounded together); a text, its one HTTP request, whose connection and answer each time out after
# 10 s (``sms.send_sms``).
SEND_TIME_LIMIT = {"email": timedelta(seconds=SEND_SECONDS), "sms": timedelta(seconds=20)}
# A delivery holds its event for a transaction (this) and the send after it: the transaction before
# each send (the one recording the send before) holds the event until that send's time limit and
# this have run out, so that a slow but live send never outlives the hold (a delivery taking the
# event over would send the message again), while a worker that died is taken over, by the relay a
# lease after the hold runs out, once the one send it died in could have ended, not its round's.
DELIVERY_CLAIM = timedelta(seconds=15)
# A message to the person is held while it is sent, by the sweep (``send_due``) or with its round:
# should its worker die, a later sweep takes it once the hold runs out. It has no deadline to meet,
# and outlasts the longest send and the recording of its outcome after it (a transaction run again
# for up to ``runtime.RECONNECT_FOR_SECONDS`` while the database is unreachable).
SWEEP_HOLD = timedelta(minutes=10)
SWEEP_HOLD_PER_MESSAGE = timedelta(minutes=1)
# A message to the person that meets a fault worth a retry, sent with its round or by the sweep,
# is left for a later sweep, a minute later at first and doubling up to an hour (about two hours
# over the eight tries), then it is recorded failed.
HELD_RETRY_FIRST = timedelta(minutes=1)
HELD_RETRY_MAX = timedelta(hours=1)
HELD_MAX_FAILED_SENDS = 8
# A message of an event to an agent or an admin that keeps failing in ways worth a retry: each task
# retries it with backoff (RETRY), then the relay hands the event on again, a lease after
# RETRY_BACKOFF_MAX. An offer, useless past its deadline, is recorded failed after this try: with
# the default 30 s lease, 11 to 24 minutes in, 17½ on average, as each of Celery's retries waits a
# random part of its backoff. A message with no deadline (an alert that a lead was left
# unassigned, a notice to the agents that a person asked again) is tried as often, and for as long
# as NO_DEADLINE_RETRY_FOR after its event was written, so that admins still hear of leads left
# unassigned during an outage of hours. An event whose messages cannot even be composed (a fault
# of ours, a bad row) counts its deliveries as an offer does, then is given up (GaveUp); for an
# error not worth Celery's retries, each try is the relay's, one every RETRY_BACKOFF_MAX and a
# lease: about two hours. A delivery whose worker died in it (an OOM kill, a segfault) counts as a
# try too, and an event whose last try killed its worker is given up so, without composing or
# sending anything again.
MAX_FAILED_TRIES = 20
NO_DEADLINE_RETRY_FOR = timedelta(hours=2)
RETRY = {
    "autoretry_for": RETRYABLE,
    "retry_backoff": 5,
    "retry_backoff_max": int(RETRY_BACKOFF_MAX.total_seconds()),
    "max_retries": 6,
    "dont_autoretry_for": (),
}


def deliver(settings: Settings, message: Outbound, key: uuid.UUID) -> None:
    """Send ``message``, named ``key`` on every send of it (an e-mail's Message-ID)."""
    if message.channel == "email":
        try:
            subject = message.subject or ""
            send_email(settings.smtp, message.to, subject, message.body, key=key, headers=message.headers)
        except smtplib.SMTPRecipientsRefused as exc:
            # Only the codes are kept, here and in any log of a retry: the server's words quote the
            # address, which may be a person's.
            codes = ", ".join(str(code) for code, _ in exc.recipients.values())
            if any(code < 500 for code, _ in exc.recipients.values()):
                raise MailboxBusy(f"the mail server cannot take the message now ({codes})") from None
            # 5xx: the mailbox does not exist or will never take it; a retry changes nothing.
            raise _Refused(f"the mail server refused the mailbox ({codes})") from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            # A 5xx for the message itself, at MAIL or at the end of its data (what a scan found in
            # it), is the server's final word on it; 530 (RFC 4954: authentication required) is
            # our credentials', like a refused AUTH: an outage, retried.
            if exc.smtp_code < 500 or exc.smtp_code == AUTHENTICATION_REQUIRED:
                raise
            log.warning("%s e-mail refused by the mail server, not retried: %d", message.template, exc.smtp_code)
            raise _Refused(f"the mail server refused the message ({exc.smtp_code})") from None
    else:
        try:
            send_sms(settings.sms, message.to, message.body)
        except RecipientOptedOut as exc:
            raise _OptedOut(OPTED_OUT_AT_PROVIDER) from exc
        except SmsError as exc:
            if exc.retryable:
                raise
            log.warning("SMS refused by the provider, not retried: %s", exc)
            raise _Refused(str(exc)) from exc


class _Refused(Exception):
    pass


class _OptedOut(Exception):
    pass


class MailboxBusy(smtplib.SMTPException):
    """A 4xx answer for the recipient (mailbox full, greylisting): worth another try later."""


class GaveUp(Exception):
    """An outbox event finished unsent: its messages could not be composed, or its deliveries died
    in it, in MAX_FAILED_TRIES deliveries. Not worth a retry."""


def _attempt(settings: Settings, message: Outbound, key: uuid.UUID) -> tuple[str, str | None, Exception | None]:
    """Send one message (``deliver``): ("sent", None, None); ("failed", why, None) when a retry
    would change nothing; ("blocked", why, None) when it was composed ``withheld``, or its recipient
    opted out at the SMS provider (OPTED_OUT_AT_PROVIDER: ``_learn_opt_out``); or ("retry", None,
    the error) when one may succeed."""
    if message.withheld is not None:
        return "blocked", message.withheld, None
    try:
        deliver(settings, message, key)
    except _OptedOut as exc:
        return "blocked", str(exc), None
    except _Refused as exc:
        return "failed", str(exc)[:255], None
    except RETRYABLE as exc:
        log.warning("%s message not sent yet: %s", message.template, type(exc).__name__)
        return "retry", None, exc
    except Exception as exc:  # an answer we cannot read, or a fault of ours: a retry would repeat it
        log.exception("%s message failed", message.template)
        return "failed", type(exc).__name__, None
    return "sent", None, None


def _task(name: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    def wrap(fn: Callable[..., int]) -> Callable[..., int]:
        def run(*args: str) -> int:
            try:
                sent = fn(task_runtime(), *args)
            except Exception:
                TASKS.labels(name, "error").inc()  # Celery's retry, if the error is worth one, comes after
                raise
            TASKS.labels(name, "ok").inc()
            return sent

        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        return shared_task(name=name, **RETRY)(run)  # type: ignore[no-any-return]

    return wrap


# The messages of the claimed event still to send (the claim tells the tries before).
Compose = Callable[[AsyncSession, outbox.Claim], Awaitable[list[Outbound]]]
Write = Callable[[AsyncSession], Awaitable[None]]


def _consume(runtime: TaskRuntime, topic: str, key: str, compose: Compose) -> int:
    """Consume one outbox event: compose its messages in one transaction, send them outside any
    (a transaction left open while a server answers would meet PostgreSQL's idle-in-transaction
    timeout), then finish the event. Every send is preceded by a transaction that records the sends
    before it (the one the next message needs anyway, or one of its own), so a worker that dies
    between a send and its record leaves only that message unrecorded, and only it goes again: when
    a delivery takes the event over, or, the person's message, when the sweep takes it once its
    hold runs out. The person's message is checked against the rules again just before it goes
    (sending the messages before it takes time, and meanwhile the person may have opted out, their
    window closed, or the agent it names passed the lead on) and recorded as being sent
    (``_take_for_sending``), so that a delivery taking the round over does not send it again; a
    fault worth a retry leaves it to the sweep.

    A message that fails for a reason worth a retry does not hold back the others: they are sent
    and recorded, and the failure is raised afterwards for the task's retry, which sends only what
    is left (``service.round_messages``). Until that retry has had its chance, the relay leaves the
    event alone: otherwise an outage would get a new delivery, with retries of its own, every lease.

    The first transaction claims the event (``outbox.claim``): a second delivery that arrives while
    this one sends (the queue's redelivery, or the relay's) sends nothing. If composing fails, that
    transaction rolls back with its claim, and the failed try is counted in one of its own
    (``_failed_to_compose``). Each later transaction renews the claim first
    (``outbox.extend_claim``): a delivery whose claim ran out and was taken over meanwhile (its
    worker paused, a slow mail server) stops there, sending nothing more and recording only the
    person's messages it sent (each under its own row's hold), not those to staff, which the
    delivery that took the event over sends and records. When the delivery before this one died in
    it and that was the last try (``_lost_for_good``), the event is given up without composing or
    sending anything: whatever killed that worker would most likely kill this one."""

    async def prepare(session: AsyncSession) -> tuple[outbox.Claim | None, list[Outbound]]:
        now = utcnow()
        held = await outbox.claim(session, topic, key, now, now + DELIVERY_CLAIM)
        if held is None:
            return None, []  # finished, or another delivery is sending it
        if _lost_for_good(held):
            await outbox.give_up(session, held, now, outbox.WORKER_LOST, failed=False)
            return held, []
        messages = await compose(session, held)
        if not messages:
            await outbox.finish_claimed(session, held, now)
        else:  # the first send follows at once
            extended = await outbox.extend_claim(session, held, held.until + _send_limit(messages[0]))
            assert extended is not None  # claimed in this very transaction
            held = extended
        return held, messages

    try:
        held, messages = runtime.in_transaction(prepare)
    except Exception as exc:
        failure = type(exc).__name__
        tries = runtime.in_transaction(partial(_failed_to_compose, topic=topic, key=key, error=failure))
        if tries is None:
            raise
        log.error("outbox event %s %s given up unsent after %d tries: %s", topic, key, tries, failure)
        raise GaveUp(f"{topic} {key}: messages not composed in {tries} tries") from exc
    if held is not None and _lost_for_good(held):
        log.error("outbox event %s %s given up unsent: %d tries, %s", topic, key, held.tries, outbox.WORKER_LOST)
        raise GaveUp(f"{topic} {key}: {held.lost_tries} of its {held.tries} deliveries died in it")
    if held is None or not messages:
        return 0
    claim: outbox.Claim | None = held  # renewed before each send; None once another delivery took it
    sent, retry = 0, None
    # The outcomes of sends made since the last transaction: of messages to staff, recorded only
    # while the claim holds (the delivery that took the event over sends and records them itself);
    # of the person's, recorded under their own row's hold (``_finish_held``), which outlives a claim.
    unrecorded: list[Write] = []
    unrecorded_held: list[Write] = []

    def in_transaction_recording(
        work: Callable[[AsyncSession], Awaitable[T]], before: Outbound | None = None
    ) -> T | None:
        """``work`` in a transaction that first renews the claim, holding the event for the send
        ``before`` a message when given, then records the sends made since the last one: every send
        is preceded by the record of those before it, at no transaction of its own. When the claim
        is no longer this delivery's, only the person's messages are recorded, ``work`` is not done
        and ``claim`` becomes None: the delivery sends nothing more."""
        nonlocal claim
        mine = claim
        assert mine is not None

        async def renewed_then(session: AsyncSession) -> tuple[T | None, outbox.Claim | None]:
            until = utcnow() + DELIVERY_CLAIM + _send_limit(before) if before is not None else mine.until
            renewed = await outbox.extend_claim(session, mine, until)
            for write in unrecorded_held + (unrecorded if renewed else []):
                await write(session)
            return (await work(session) if renewed else None), renewed

        result, claim = runtime.in_transaction(renewed_then)
        unrecorded.clear()
        unrecorded_held.clear()
        return result

    for number, message in enumerate(messages):
        if message.recipient_kind == "lead":
            hold = utcnow() + SWEEP_HOLD
            take = partial(_take_for_sending, settings=runtime.settings, message=message, hold=hold)
            taken = in_transaction_recording(take, before=message)
            if taken is not None:
                status, write = _send_held(runtime.settings, taken[0], hold, taken[1])
                unrecorded_held.append(write)
                sent += status == "sent"
            if claim is None:
                break
            continue
        if number:  # the first one's hold came with the claim
            in_transaction_recording(_nothing, before=message)
            if claim is None:
                break
        status, detail, error = _attempt(runtime.settings, message, message.key)
        if error is not None and _last_try(message, held, utcnow()):
            status, detail, error = "failed", f"not sent in {held.tries + 1} tries: {type(error).__name__}", None
        if error is None:
            record = partial(_record, settings=runtime.settings, message=message, status=status, detail=detail)
            unrecorded.append(record)
            sent += status == "sent"
        retry = retry or error

    async def finish(session: AsyncSession) -> None:
        assert claim is not None  # not done once the claim is lost (``in_transaction_recording``)
        now = utcnow()
        if retry is None:
            await outbox.finish_claimed(session, claim, now)
        else:
            await outbox.hold_off_relay(session, claim, now + RETRY_BACKOFF_MAX, type(retry).__name__)

    if claim is not None:
        in_transaction_recording(finish)
    if claim is None:
        log.warning("outbox event %s %s was taken over by another delivery: this one sends nothing more", topic, key)
        return sent
    if retry is not None:
        raise retry
    return sent


async def _nothing(session: AsyncSession) -> None:
    """A transaction's work when it only records what was sent and holds the event for a send."""


def _send_limit(message: Outbound) -> timedelta:
    """How long sending ``message`` may take. The person's message is written afresh as it goes,
    on the channel that reaches them then (``_take_for_sending``): as long as the slowest."""
    if message.recipient_kind == "lead":
        return max(SEND_TIME_LIMIT.values())
    return SEND_TIME_LIMIT[message.channel]


def _last_try(message: Outbound, held: outbox.Claim, now: datetime) -> bool:
    """Whether a try of ``message`` that failed in a way worth a retry was its last (see
    MAX_FAILED_TRIES): an offer's tries are counted; a message with no deadline is tried as often,
    and until its event is NO_DEADLINE_RETRY_FOR old."""
    if held.tries + 1 < MAX_FAILED_TRIES:
        return False
    return message.template == "offer" or now - held.written_at >= NO_DEADLINE_RETRY_FOR


def _lost_for_good(held: outbox.Claim) -> bool:
    """Whether the event's deliveries died in it (the last one did) as many times as a fault of
    ours is tried (``_failed_to_compose``): it is given up without trying again."""
    return held.last_lost and held.tries >= MAX_FAILED_TRIES


async def _record(
    session: AsyncSession, *, settings: Settings, message: Outbound, status: str, detail: str | None
) -> None:
    service.record(session, message, status, detail, sent_at=utcnow() if status == "sent" else None)
    await _learn_opt_out(session, settings, message, detail)


async def _take_for_sending(
    session: AsyncSession, *, settings: Settings, message: Outbound, hold: datetime
) -> tuple[uuid.UUID, Outbound | None] | None:
    """Record the person's ``message`` as being sent until ``hold``, written afresh to name the
    agent who holds the lead now; None, with the message recorded held back or blocked, when the
    rules (``service.acknowledgement_block_reason``) do not let it go now."""
    lead = await session.get(Lead, message.lead_id) if message.lead_id else None
    reason, not_before = await service.acknowledgement_block_reason(session, lead, utcnow())
    if reason is not None:
        service.record(session, message, "scheduled" if not_before else "blocked", reason, not_before=not_before)
        return None
    named = await service.acknowledgement(session, settings, lead.id) if lead else []
    return service.sending(session, message, hold), named[0] if named else None


def _send_held(settings: Settings, held_id: uuid.UUID, hold: datetime, message: Outbound | None) -> tuple[str, Write]:
    """Send a message to the person recorded as being sent until ``hold``: how it went, and the
    write that records it (``_finish_held``); with none to send (no channel left to reach them),
    it is blocked."""
    # Sent as its row: every send of it, by this delivery or a later sweep, carries one Message-ID.
    status, detail, error = _attempt(settings, message, held_id) if message else ("blocked", "no address", None)
    if error is not None:
        detail = type(error).__name__
    finish = partial(
        _finish_held, settings=settings, held_id=held_id, hold=hold, message=message, status=status, detail=detail
    )
    return status, finish


async def _learn_opt_out(session: AsyncSession, settings: Settings, message: Outbound, detail: str | None) -> None:
    """After a text the SMS provider refused because its recipient replied STOP to our number: a
    person goes on the do-not-contact list, as if their reply had reached our webhook (it may not
    have: the provider calls it once, and it may have been down then); an agent is only logged, as
    their number is not a lead's."""
    if detail != OPTED_OUT_AT_PROVIDER:
        return
    if message.recipient_kind != "lead":
        log.warning("the SMS provider refuses texts to agent %s: they replied STOP to our number", message.agent_id)
        return
    phone_hash = keyed_hash(settings.security.pii_hash_key.get_secret_value(), "phone", message.to)
    await compliance.opt_out(session, [("phone", phone_hash)], "sms-reply", "sms-provider")


async def _failed_to_compose(session: AsyncSession, *, topic: str, key: str, error: str) -> int | None:
    """Count a delivery that failed before sending anything (with ``error``), as ``_consume`` counts
    one whose sends failed: the relay is held off while Celery's retries, if any, run, and after
    MAX_FAILED_TRIES (those whose worker died count) the event is finished, so that a fault of ours
    or a bad row does not bring it back every lease for ever. Returns the tries when that was the
    last, else None (nothing is counted when another delivery holds the event now, or it was
    finished meanwhile)."""
    now = utcnow()
    held = await outbox.claim(session, topic, key, now, now + DELIVERY_CLAIM)
    if held is None:
        return None
    tries = held.tries + 1
    if tries < MAX_FAILED_TRIES:
        await outbox.hold_off_relay(session, held, now + RETRY_BACKOFF_MAX, error)
        return None
    await outbox.finish_claimed(session, held, now)
    return tries


def _send_round(
    runtime: TaskRuntime, round_key: str, event: tuple[str, str], wanted: Callable[[Outbound], bool] | None = None
) -> int:
    """What is left of a round's messages (those ``wanted``, or all), as the outbox ``event``.

    An offer whose deadline passed before any try could send it (each failed, or its worker died)
    is recorded failed, so that staff and ``leadgen_notifications_total`` see the offers an outage
    cost: a round's tries go on longer than the SLA gives an agent (MAX_FAILED_TRIES)."""
    lead_id, attempt = round_key.rsplit(":", 1)
    now = utcnow()

    async def compose(session: AsyncSession, held: outbox.Claim) -> list[Outbound]:
        found = await service.round_messages(session, runtime.settings, uuid.UUID(lead_id), int(attempt), now)
        status = "scheduled" if found.not_before else "blocked"
        for message in filter(wanted, found.held):
            service.record(session, message, status, found.reason, not_before=found.not_before)
        if held.tries:
            lapsed = f"deadline passed before it could be sent: {held.tries} tries"
            lapsed += f", {held.last_error}" if held.last_error else ""  # a try of the release before
            for message in filter(wanted, found.lapsed):
                service.record(session, message, "failed", lapsed)
        return list(filter(wanted, found.send))

    return _consume(runtime, *event, compose)


@_task("notifications.notify_round")
def notify_round(runtime: TaskRuntime, key: str) -> int:
    """One routing round (``key`` is ``<lead id>:<attempt>``): each new offer to its agent (no lead
    contact data in it) and, in the first round only, the person's acknowledgement. That goes only
    if they are not on the do-not-contact list and inside their contact window; outside the window
    it waits (durably) until the window opens."""
    return _send_round(runtime, key, (ROUND_TOPIC, key))


# The two tasks below consume events that orchestrators of the release before rounds write while a
# rolling upgrade replaces them (migration 0003 converted the ones written before it ran). Each
# sends only its own part of the round, so the two events of one lead can run side by side.
@_task("notifications.offer_to_agent")
def offer_to_agent(runtime: TaskRuntime, assignment_id: str) -> int:
    """An offer event of the previous release: that agent's messages of the offer's round."""
    found = runtime.in_transaction(lambda s: service.round_of_offer(s, uuid.UUID(assignment_id)))
    if found is None:
        runtime.in_transaction(lambda s: outbox.mark_processed(s, LEGACY_OFFER_TOPIC, assignment_id))
        return 0
    round_key, agent_id = found

    def to_the_agent(message: Outbound) -> bool:
        return message.recipient_kind == "agent" and message.agent_id == agent_id

    return _send_round(runtime, round_key, (LEGACY_OFFER_TOPIC, assignment_id), to_the_agent)


@_task("notifications.acknowledge_lead")
def acknowledge_lead(runtime: TaskRuntime, lead_id: str) -> int:
    """An acknowledgement event of the previous release: the person's message of the first round."""
    return _send_round(runtime, f"{lead_id}:1", (LEGACY_ACKNOWLEDGE_TOPIC, lead_id), _to_the_lead)


def _to_the_lead(message: Outbound) -> bool:
    return message.recipient_kind == "lead"


@_task("notifications.alert_unassigned")
def alert_unassigned(runtime: TaskRuntime, key: str) -> int:
    """E-mail every admin that a lead found no eligible agent. ``key`` is the lead id the first time
    it is left unassigned, ``<lead id>:<reopenings>`` after staff reopened it."""
    lead_id = uuid.UUID(key.split(":", 1)[0])

    async def compose(session: AsyncSession, held: outbox.Claim) -> list[Outbound]:
        event = await outbox.unfinished(session, "lead.unassigned", key)  # claimed, so still there
        reason = str(event.payload.get("reason", "")) if event else ""
        return await service.unassigned_alerts(session, runtime.settings, lead_id, reason, key)

    return _consume(runtime, "lead.unassigned", key, compose)


@_task("notifications.tell_owners")
def tell_owners(runtime: TaskRuntime, lead_id: str) -> int:
    """A duplicate lead passed to its person's agents (``pipeline.service``): tell each of them."""

    async def compose(session: AsyncSession, held: outbox.Claim) -> list[Outbound]:
        return await service.owner_messages(session, runtime.settings, uuid.UUID(lead_id), lead_id, utcnow())

    return _consume(runtime, REQUESTED_AGAIN_TOPIC, lead_id, compose)


@_task("notifications.send_due")
def send_due(runtime: TaskRuntime) -> int:
    """Send lead messages whose contact window has opened, re-checking every rule first."""
    now = utcnow()

    async def due(session: AsyncSession) -> list[tuple[uuid.UUID, datetime, list[Outbound]]]:
        ready: list[tuple[uuid.UUID, datetime, list[Outbound]]] = []
        for held in await service.due_for_lead(session, now, 100):
            lead = await _may_go(session, held, now)
            if lead is not None:
                # Held until this sweep gets to it (they go one after another), then afresh as it goes.
                hold = now + SWEEP_HOLD + SWEEP_HOLD_PER_MESSAGE * len(ready)
                held.status, held.not_before = "sending", hold
                # On the channel it was held for: an e-mail held after a text was refused is no text.
                by_text = held.channel == "sms"
                thanks = await service.acknowledgement(session, runtime.settings, lead.id, by_text=by_text)
                ready.append((held.id, hold, thanks))
        return ready

    sent = 0
    for held_id, hold, messages in runtime.in_transaction(due):
        fresh = utcnow() + SWEEP_HOLD
        if not runtime.in_transaction(partial(_hold_again, held_id=held_id, hold=hold, until=fresh)):
            continue  # its hold ran out (a later sweep has it), or the rules no longer let it go
        # A held row is one acknowledgement: none when the person has no channel left to reach.
        status, finish = _send_held(runtime.settings, held_id, fresh, messages[0] if messages else None)
        runtime.in_transaction(finish)
        sent += status == "sent"
    return sent


_HOLD_AGAIN = (
    update(Notification)
    .where(
        Notification.id == bindparam("held_id"),
        Notification.status == "sending",
        Notification.not_before == bindparam("hold"),
    )
    .values(not_before=bindparam("until"))
    .execution_options(synchronize_session=False)
)


async def _may_go(session: AsyncSession, held: Notification, now: datetime) -> Lead | None:
    """The held message's lead when every rule lets the message go now; otherwise the message is
    held again until the person's window opens, or blocked for good."""
    lead = await session.get(Lead, held.lead_id) if held.lead_id else None
    reason, not_before = await service.acknowledgement_block_reason(session, lead, now)
    if reason is None:
        return lead
    if not_before is not None:
        held.status, held.detail, held.not_before = "scheduled", reason, not_before
    else:
        held.status, held.detail = "blocked", reason
        service.count_recorded(session, held.channel, held.template, "blocked")
    return None


async def _hold_again(session: AsyncSession, *, held_id: uuid.UUID, hold: datetime, until: datetime) -> bool:
    """Renew this sweep's hold on a held message just before sending it, and check the rules again
    then: while the sweep sent the messages before it, the person may have opted out, or their
    window closed. False when the hold ran out (a later sweep has it) or the message may not go."""
    result = await session.execute(_HOLD_AGAIN, {"held_id": held_id, "hold": hold, "until": until})
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    held = await session.get(Notification, held_id)
    return held is not None and await _may_go(session, held, utcnow()) is not None


async def _finish_held(
    session: AsyncSession,
    *,
    settings: Settings,
    held_id: uuid.UUID,
    hold: datetime,
    message: Outbound | None,
    status: str,
    detail: str | None,
) -> None:
    """Record how a message to the person went, unless the hold it was sent under ran out and a
    sweep took it. A fault worth a retry ("retry") leaves it for a later sweep, until the last try."""
    held = await session.get(Notification, held_id, with_for_update=True)
    if held is None or held.status != "sending" or held.not_before != hold:
        return
    now = utcnow()
    held.channel = message.channel if message else held.channel  # SMS may have been turned off since
    if status == "retry":
        held.failed_sends += 1
        if held.failed_sends < HELD_MAX_FAILED_SENDS:  # a later sweep tries again: not a new outcome
            wait = min(HELD_RETRY_FIRST * 2 ** (held.failed_sends - 1), HELD_RETRY_MAX)
            held.status, held.detail, held.not_before = "scheduled", f"not sent yet: {detail}", now + wait
            return
        status, detail = "failed", f"not sent in {held.failed_sends} tries, the last: {detail}"
    held.status, held.sent_at = status, now if status == "sent" else None
    held.detail = None if status == "sent" else detail or held.detail
    service.count_recorded(session, held.channel, held.template, status)
    if message is not None:
        await _learn_opt_out(session, settings, message, detail)
    if held.channel == "sms" and (why := _text_could_not_go(status, detail)):
        await _thank_by_email_instead(session, held, now, why)


def _text_could_not_go(status: str, detail: str | None) -> str | None:
    """Why a text to the person that went no further is followed by an e-mail (as the e-mail's
    record says it): the SMS provider refused it for good (a landline; not their STOP, which is
    blocked, not failed), or it was not sent to a number at an extension. None for any other."""
    if status == "failed" and (detail or "").startswith(TEXT_REFUSED):
        return service.BY_EMAIL_INSTEAD
    if status == "blocked" and detail == service.EXTENSION_NOT_TEXTABLE:
        return service.BY_EMAIL_AT_EXTENSION
    return None


async def _thank_by_email_instead(session: AsyncSession, refused: Notification, now: datetime, why: str) -> None:
    """After the person's text could not go (``_text_could_not_go``), hold an e-mail to them when
    they gave an address: the next sweep sends it once every rule lets it go (``_may_go``: their
    address not on the do-not-contact list, not erased, their consent, their contact window, an
    agent holding the lead)."""
    lead = await session.get(Lead, refused.lead_id) if refused.lead_id else None
    if lead is not None and lead.email:
        service.hold_by_email(session, refused, now, why)
