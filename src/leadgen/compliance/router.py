"""Opt-outs (api): a person revokes consent by replying to a text, by the link in an e-mail, or by
telling staff or the agent working their lead. Each puts the person's phone number and e-mail
address on the do-not-contact list: from then on no message reaches them and no agent is offered
their leads (``repository.contact_barred``).

The reply webhook and the e-mail link answer without a user's sign-in, as their senders cannot
have one: the provider's signature and the link's signature stand in for it."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel

from leadgen.auth.deps import AdminPrincipal, CurrentPrincipal, StaffPrincipal
from leadgen.compliance import repository, service
from leadgen.compliance.links import lead_of_opt_out_token
from leadgen.compliance.rules import asks_to_opt_out, own_entries
from leadgen.core.deps import SessionDep, SettingsDep
from leadgen.core.errors import Forbidden, Gone, InvalidInput, NotFound
from leadgen.core.security import keyed_hash
from leadgen.leads import outcomes
from leadgen.leads.normalize import phone_e164
from leadgen.models import Lead
from leadgen.notifications.sms import signed_by_provider
from leadgen.privacy import repository as privacy
from leadgen.privacy.router import Person
from leadgen.privacy.service import RETENTION, data_subject, person_hashes

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["opt-outs"])
# TwiML with nothing to do: the provider's own opt-out handling answers the person.
NO_REPLY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
SIGNATURE_HEADER = "X-Twilio-Signature"


class OptedOut(BaseModel):
    """The person's leads that this request barred from contact; empty when the person was on the
    list already, or has no leads (they are listed all the same)."""

    leads: list[uuid.UUID]


@router.post(
    "/opt-outs/sms",
    response_class=Response,
    responses={
        200: {"content": {"application/xml": {}}, "description": "Taken (TwiML with no reply)"},
        403: {"description": "Not signed by the SMS provider"},
        404: {"description": "SMS is not configured"},
        422: {"description": "No sender"},
    },
    # Read from the raw form (every field counts toward the signature), so described here.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["From"],
                        "properties": {
                            "From": {"type": "string", "description": "The sender's number, E.164"},
                            "Body": {"type": "string", "description": "The text of the reply"},
                            "OptOutType": {"type": "string", "description": "STOP when the provider took it as one"},
                        },
                    }
                }
            },
        }
    },
)
async def sms_reply(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """A text a person sent to our number, as a Twilio-compatible provider posts it (form fields
    ``From`` and ``Body``, signed in ``X-Twilio-Signature``). A text asking to stop ("STOP",
    "unsubscribe", "please stop texting me") puts the sender on the do-not-contact list."""
    if not settings.sms.enabled:
        raise NotFound("SMS is not configured")
    form = await request.form()
    params = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    url = str(settings.sms.reply_webhook_url or request.url)
    if not signed_by_provider(settings.sms, url, params, request.headers.get(SIGNATURE_HEADER)):
        raise Forbidden(f"the request does not carry the SMS provider's signature in {SIGNATURE_HEADER}")
    sender, text = form.get("From"), form.get("Body")
    if not isinstance(sender, str) or not sender:
        raise InvalidInput("the sender is missing", [{"field": "From", "reason": "required"}])
    # The provider's own opt-out handling marks the keywords it acted on (Twilio's OptOutType).
    stop = form.get("OptOutType") == "STOP" or (isinstance(text, str) and asks_to_opt_out(text))
    if stop:
        phone = phone_e164(sender)
        if phone is None:
            # A short code or a sender name, not a number: no lead of ours can have it.
            log.info("opt-out reply from a sender that is not a phone number ignored")
        else:
            hashes = [("phone", keyed_hash(settings.security.pii_hash_key.get_secret_value(), "phone", phone))]
            await service.opt_out(session, hashes, "sms-reply", "sms-provider")
    return Response(NO_REPLY, media_type="application/xml")


@router.post(
    "/opt-outs/email/{token}",
    responses={
        404: {"description": "Not a link we made, or its lead is gone"},
        410: {"description": "The retention policy deleted the contact details the link was for"},
    },
)
async def email_link(token: str, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """The unsubscribe link of an e-mail to a person: mail clients post here when the person clicks
    their "unsubscribe" button (RFC 8058 one-click), and the dashboard's page does when they confirm.
    Using it again changes nothing."""
    lead_id = lead_of_opt_out_token(settings.security.pii_hash_key.get_secret_value(), token)
    lead = await session.get(Lead, lead_id) if lead_id is not None else None
    if lead is None:
        raise NotFound("this unsubscribe link is not valid")
    # An erased person is listed already; one whose details the retention purge deleted cannot be:
    # nothing is held to list them by, and saying "opted out" would be untrue.
    if lead.anonymised_at is not None and await privacy.anonymised_for(session, lead.id) == RETENTION:
        raise Gone("the contact details this link was for were deleted under the retention policy")
    await service.opt_out(session, repository.identity_hashes(lead), "email-link", "email-link")
    return {"opted_out": True}


@router.post("/opt-outs", responses={422: {"description": "Neither e-mail nor a valid phone number"}})
async def staff_opt_out(
    person: Annotated[Person, Body()], principal: StaffPrincipal, session: SessionDep, settings: SettingsDep
) -> OptedOut:
    """A person told the agency, by phone, letter or in person, not to contact them any more."""
    hashes = person_hashes(
        settings.security.pii_hash_key.get_secret_value(), person.email and str(person.email), person.phone
    )
    return OptedOut(leads=await service.opt_out(session, hashes, "staff", principal.label()))


class Removal(Person):
    # From a list, not typed: the audit entry cannot be tied to the person, so it must say nothing of them.
    reason: Literal["listed_by_mistake", "new_written_consent"]


@router.post(
    "/opt-outs/removals",
    responses={422: {"description": "No reason, or neither e-mail nor a valid phone number"}},
)
async def remove_opt_out(
    removal: Annotated[Removal, Body()], principal: AdminPrincipal, session: SessionDep, settings: SettingsDep
) -> dict[str, int]:
    """Take a person off the do-not-contact list: listed by mistake, or they gave their consent
    again in writing. Admins only; the reason goes to the audit log. Listed by mistake, the opt-outs
    of the person's leads the list no longer bars are withdrawn (each lead gets a
    ``lead.opt_out_withdrawn`` event) and reports stop counting them; after a new written consent
    they stand, as the person did opt out. Leads left UNASSIGNED by the opt-out stay so until staff
    offer them again."""
    asked = data_subject(
        settings.security.pii_hash_key.get_secret_value(), removal.email and str(removal.email), removal.phone
    )
    # The number, and the number at the extension given with it, as an erasure lists it.
    at_extension = own_entries(dict(asked.hashes).get("phone"), None, asked.phone_extension)
    hashes = sorted({value for _, value in [*asked.hashes, *at_extension]})
    kinds = await service.take_off_list(session, hashes, removal.reason, principal.label())
    return {"removed": len(kinds)}


@router.post(
    "/leads/{lead_id}/opt-out",
    responses={
        404: {"description": "No such lead, or not a lead of yours"},
        409: {"description": "Yours to read, not to work: not yet accepted, or returned"},
    },
)
async def lead_opt_out(lead_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep) -> OptedOut:
    """The person behind a lead asked not to be contacted: recorded by staff, or by the agent who
    accepted the lead (typically during the call)."""
    if principal.sees_everything:
        lead = await session.get(Lead, lead_id)
        if lead is None:
            raise NotFound(f"lead {lead_id} not found")
    else:
        lead, _ = await outcomes.accepted_by(session, principal, lead_id)
    via = "staff" if principal.sees_everything else "agent"
    return OptedOut(leads=await service.opt_out(session, repository.identity_hashes(lead), via, principal.label()))
