"""Prometheus metrics, served on their own port away from auth and the edge."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "leadgen_http_requests_total", "HTTP requests answered.", ["target", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "leadgen_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["target", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LEADS_RECEIVED = Counter("leadgen_leads_received_total", "Leads accepted at intake.", ["line", "origin"])
LEADS_REFUSED = Counter("leadgen_leads_refused_total", "Leads refused at intake.", ["reason"])
PIPELINE_OUTCOMES = Counter("leadgen_pipeline_outcomes_total", "Leads leaving the pipeline.", ["status"])
PIPELINE_LATENCY = Histogram(
    "leadgen_pipeline_seconds",
    "Time from receipt to the pipeline's decision.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 15, 60),
)
OFFERS_MADE = Counter(
    "leadgen_offers_made_total", "Leads offered to agents, by routing strategy, counted once committed.", ["strategy"]
)
OFFERS_ANSWERED = Counter(
    "leadgen_offers_answered_total",
    "Offers to agents leaving PENDING, by how, counted once committed: accepted, rejected (declined), "
    "timed_out (the SLA passed unanswered: a breach) or withdrawn (the person opted out or was erased, "
    "the lead was finished by another taker, or its agent may no longer take it); returned counts an "
    "accepted lead given back to its source.",
    ["answer"],
)
TASKS = Counter(
    "leadgen_tasks_total",
    "Background tasks run, by outcome: ok, error (the task raised) or lost (its worker died in it, counted by the "
    "next delivery of its outbox event).",
    ["task", "outcome"],
)
PIPELINE_FAILED_LEADS = Counter(
    "leadgen_pipeline_failed_leads_total",
    "Leads ended UNASSIGNED because a pipeline task kept failing on them (admins are alerted; the lead's "
    "reason names the error's class), counted once committed, by task.",
    ["task"],
)
# Set by the outbox relay each time it runs (every 5 s, on one of the workers): read the highest
# across the workers, as a worker the relay has not run on for a while shows an older count.
OUTBOX_UNPROCESSED = Gauge(
    "leadgen_outbox_unprocessed_events",
    "Outbox events not yet processed, by topic (topics of another release: other).",
    ["topic"],
)
OUTBOX_OLDEST_UNPROCESSED = Gauge(
    "leadgen_outbox_oldest_unprocessed_seconds",
    "Age of the oldest outbox event not yet processed, by topic (0 when there is none): work that "
    "is not getting done, such as a lead waiting for the pipeline.",
    ["topic"],
)
NOTIFICATIONS = Counter(
    "leadgen_notifications_total",
    "Messages to agents, admins and leads by recorded outcome, counted once committed: sent, failed, "
    "scheduled (held for the person's contact window; its later outcome is counted too) or blocked "
    "(do-not-contact, erased).",
    ["channel", "template", "status"],
)
DO_NOT_CONTACT_ADDED = Counter(
    "leadgen_do_not_contact_added_total",
    "Phone numbers and e-mail addresses put on the do-not-contact list, counted once committed, by "
    "how: sms-reply, email-link, staff, agent, import, linked (given with a listed one), "
    "linked-import (given with one only the agency's imported list had listed) or erasure (a rise "
    "in replies asking to stop points at a source or a campaign).",
    ["via"],
)
RETENTION_PEOPLE_ANONYMISED = Counter(
    "leadgen_retention_people_anonymised_total",
    "People whose leads the retention purge anonymised, their last activity being older than "
    "LEADGEN_PRIVACY_RETENTION_DAYS, counted once committed.",
)
RETENTION_LEADS_ANONYMISED = Counter(
    "leadgen_retention_leads_anonymised_total",
    "Leads the retention purge anonymised (the leads of the people counted by "
    "leadgen_retention_people_anonymised_total), counted once committed.",
)
