"""One settings model for every target.

Every value comes from an environment variable named ``LEADGEN_<GROUP>_<FIELD>`` or, for secrets,
from a file of that name in ``LEADGEN_SECRETS_DIR`` (how Kubernetes mounts a Secret). Groups are
validated together so that one error lists every missing or bad setting.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import os
import re
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many
from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from leadgen.leads.lifecycle import Line

DEFAULT_SECRETS_DIR = "/var/run/secrets/leadgen"
# Values that mark a secret as a development placeholder; refused outside development.
PLACEHOLDER_PREFIX = "insecure-"
MIN_SECRET_LENGTH = 32


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


def _one_limit(rule: str) -> str:
    """A rule the limiter reads as one limit: it fails at start-up, not at the request it would count."""
    try:
        limits = parse_many(rule)
    except ValueError:
        raise ValueError(f"{rule!r} is not a limit in limits notation, such as 10/minute or 10 per minute") from None
    if len(limits) != 1:
        raise ValueError(f"one limit, such as 10/minute: only the first of {rule!r} would count")
    return rule


def _secrets_dir() -> str | None:
    path = os.environ.get("LEADGEN_SECRETS_DIR", DEFAULT_SECRETS_DIR)
    return path if Path(path).is_dir() else None


class _Group(BaseSettings):
    """Base of every settings group: its own prefix, secrets readable as files."""

    env_prefix: ClassVar[str] = "LEADGEN_"

    def __init_subclass__(cls, prefix: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.env_prefix = f"LEADGEN_{prefix}"
        cls.model_config = SettingsConfigDict(env_prefix=cls.env_prefix, extra="ignore", case_sensitive=False)


class CommonSettings(_Group, prefix=""):
    environment: Environment = Field(
        Environment.DEVELOPMENT,
        description="development, staging or production; only development accepts placeholder secrets.",
    )
    data_dir: Path = Field(
        Path.home() / ".local" / "share" / "leadgen",
        description="Where embedded stores (SQLite file, Qdrant local mode, graph) keep their data.",
    )
    log_level: str = Field(
        "INFO",
        description="The platform's log level: DEBUG, INFO, WARNING, ERROR or CRITICAL. Other libraries log at "
        "INFO at most, as their DEBUG lines print what they send (an LLM prompt, a statement's parameters).",
    )
    log_format: Literal["json", "console"] = Field("json", description="json (one object per line) or console.")
    instance: str = Field(
        default_factory=lambda: os.environ.get("HOSTNAME", "local"),
        description="Name of this process in logs and database connections (the pod name).",
    )
    timezone: str = Field(
        "UTC",
        description="The agency's time zone (an IANA name such as America/Chicago): the days the "
        "dashboard's reports are chosen by start and end at its midnights.",
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"{value!r} is not a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)")
        return level

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value


class DatabaseSettings(_Group, prefix="DB_"):
    url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL, e.g. postgresql+asyncpg://user:pw@host/db. "
        "Empty in development means a SQLite file in the data directory.",
    )
    pool_size: int = Field(10, ge=1, le=200, description="Connections kept open per process.")
    max_overflow: int = Field(10, ge=0, le=200, description="Extra connections under burst.")
    pool_timeout_seconds: float = Field(10, gt=0, description="Wait for a free connection.")
    statement_timeout_ms: int = Field(15000, ge=0, description="PostgreSQL statement timeout.")

    @field_validator("url", mode="before")
    @classmethod
    def _normalise_driver(cls, value: object) -> object:
        """Accept the URLs operators have (postgres://, postgresql://) and pick our async driver;
        empty is unset (the SQLite file, in development)."""
        if isinstance(value, str):
            if not value.strip():
                return None
            for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
                if value.startswith(prefix):
                    return "postgresql+asyncpg://" + value[len(prefix) :]
            if value.startswith("sqlite:///"):
                return "sqlite+aiosqlite:///" + value[len("sqlite:///") :]
        return value

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        """A URL SQLAlchemy reads, of a database the platform runs on. The message never repeats
        the URL, which may hold a password."""
        if value is None:
            return None
        try:
            backend = make_url(value.get_secret_value()).get_backend_name()
        except (ArgumentError, ValueError):  # ValueError: a port that is not a number
            raise ValueError(
                "not a database URL; for example postgresql://user:password@host:5432/leadgen, "
                "or sqlite:///path/to/leadgen.db"
            ) from None
        if backend not in {"postgresql", "sqlite"}:
            raise ValueError(f"{backend} is not a database the platform runs on: PostgreSQL, or SQLite in development")
        return value


# One Sentinel: host:port, an IPv6 address in brackets as in a URL ([2001:db8::7]:26379).
_SENTINEL = re.compile(r"(?:\[(?P<ipv6>[^\]]*)\]|[^:\[\]/@\s]+):(?P<port>[0-9]{1,5})")


def _sentinel_address(item: str) -> tuple[str, int]:
    """The host, as written, and the port of one Sentinel of LEADGEN_REDIS_SENTINELS."""
    match = _SENTINEL.fullmatch(item)
    if match is None or not 0 < int(match["port"]) <= 65535:
        raise ValueError(f"{item!r} is not host:port (an IPv6 address in brackets: [2001:db8::7]:26379)")
    if match["ipv6"] is not None:
        try:
            ipaddress.IPv6Address(match["ipv6"])
        except ValueError:
            raise ValueError(f"{item!r}: only an IPv6 address is written in brackets") from None
    return item.rpartition(":")[0], int(match["port"])


class RedisSettings(_Group, prefix="REDIS_"):
    url: SecretStr | None = Field(
        None,
        description="redis://[:password@]host:port/db. Empty in development means in-process stores.",
    )
    sentinels: str = Field(
        "",
        description="Comma-separated host:port list of Redis Sentinels (an IPv6 address in brackets: "
        "[2001:db8::7]:26379); when set, the client connects to the master named by "
        "LEADGEN_REDIS_SENTINEL_MASTER through them.",
    )
    sentinel_master: str = Field("mymaster", description="Sentinel master name.")
    password: SecretStr | None = Field(None, description="Password of the Redis servers (Sentinel mode).")

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        """A URL redis-py reads. The message never repeats the URL: redis-py's own, about a port
        that is not a number, quotes what it read as the port, which is part of a password holding
        a ``/`` (as base64 secrets do)."""
        if value is None or not value.get_secret_value().strip():
            return value
        from redis.connection import ConnectionPool  # only where Redis is used: redis-py takes 0.2 s to import

        try:
            ConnectionPool.from_url(value.get_secret_value())  # reads the URL; connects to nothing
        except ValueError:
            raise ValueError(
                "not a Redis URL; for example redis://:password@host:6379/0, with a password's "
                "reserved characters (/ ? # @ :) percent-encoded (%2F for /)"
            ) from None
        return value

    @field_validator("sentinels")
    @classmethod
    def _host_port_pairs(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            _sentinel_address(item)
        return value

    @property
    def embedded(self) -> bool:
        return self.url is None and not self.sentinels

    def sentinel_hosts(self) -> list[tuple[str, int]]:
        """(host, port) of each Sentinel; an IPv6 host keeps its brackets, as the URLs built of it need."""
        return [_sentinel_address(item) for item in filter(None, (part.strip() for part in self.sentinels.split(",")))]


class QdrantSettings(_Group, prefix="QDRANT_"):
    url: AnyHttpUrl | None = Field(None, description="Qdrant server URL; empty means local mode.")
    api_key: SecretStr | None = Field(None, description="Qdrant API key, if the server needs one.")
    collection: str = Field(
        "leads",
        description="Name of the collections of lead embeddings: each embedding version writes its own, "
        "'<name>-<version>' ('leads-hash-v3').",
    )
    replication_factor: int = Field(
        1,
        ge=1,
        description="Copies of each shard when the app creates the collection on a Qdrant cluster (2 keeps "
        "every vector available with one peer down); a collection that exists keeps its own. Local mode keeps one.",
    )


class Neo4jSettings(_Group, prefix="NEO4J_"):
    uri: str | None = Field(None, description="bolt:// or neo4j:// URI; empty means the embedded graph.")
    user: str = Field("neo4j", description="Neo4j user.")
    password: SecretStr | None = Field(None, description="Neo4j password.")
    retry_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="How long a graph transaction is tried again after a transient error or while the server "
        "cannot be reached (the driver's max_transaction_retry_time, its waits growing from 1 s): at 2, a call "
        "to a server that is down fails after 2 to 4 s. A lead's screening holds its database transaction meanwhile.",
    )
    connect_timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="How long opening a connection to Neo4j may take before it fails."
    )


class SecuritySettings(_Group, prefix="SECURITY_"):
    jwt_secret: SecretStr = Field(
        SecretStr(PLACEHOLDER_PREFIX + "jwt-secret-for-development-only"),
        description="HMAC key signing user access tokens and keying sign-in device tokens; rotating it "
        "ends every device's trust (at least 32 characters).",
    )
    pii_hash_key: SecretStr = Field(
        SecretStr(PLACEHOLDER_PREFIX + "pii-hash-key-for-development-only"),
        description="Key of the keyed hashes used for de-duplication and do-not-contact lookups, and "
        "of the signed opt-out links in messages to people.",
    )
    session_secret: SecretStr = Field(
        SecretStr(PLACEHOLDER_PREFIX + "session-secret-for-development-only"),
        description="Key signing the dashboard's session cookie and CSRF tokens.",
    )
    access_token_minutes: int = Field(60, ge=1, le=1440, description="Lifetime of an access token.")
    sign_in_account_limits: Annotated[tuple[str, ...], NoDecode] = Field(
        ("5/minute", "20/hour"),
        description="Failed sign-ins allowed per account (its e-mail address) before every sign-in to it, "
        "right password or not, is refused with 429 until the oldest failure is out of the window "
        "(limits notation; several separated by ';').",
    )
    sign_in_address_limits: Annotated[tuple[str, ...], NoDecode] = Field(
        ("20/minute", "100/hour"),
        description="Failed sign-ins allowed per client address, whatever the accounts, before sign-ins "
        "from it are refused with 429 (limits notation; several separated by ';').",
    )
    sign_in_device_limits: Annotated[tuple[str, ...], NoDecode] = Field(
        ("5/minute", "20/hour"),
        description="Failed sign-ins allowed per device the account trusts (one that shows the device token "
        "of an earlier sign-in to the account), which the account limits do not cover, before sign-ins from "
        "it are refused with 429 (limits notation; several separated by ';').",
    )

    @field_validator("sign_in_account_limits", "sign_in_address_limits", "sign_in_device_limits", mode="before")
    @classmethod
    def _one_rule_per_limit(cls, value: object) -> object:
        return tuple(rule.strip() for rule in value.split(";")) if isinstance(value, str) else value

    @field_validator("sign_in_account_limits", "sign_in_address_limits", "sign_in_device_limits")
    @classmethod
    def _readable_by_the_limiter(cls, rules: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_one_limit(rule) for rule in rules)


class HttpSettings(_Group, prefix="HTTP_"):
    host: str = Field(
        "127.0.0.1",
        description="Interface the HTTP servers bind to (0.0.0.0 in a pod). Any other than the loopback "
        "needs real LEADGEN_SECURITY_* secrets, not the development placeholders.",
    )
    metrics_port: int = Field(9090, description="Port of the Prometheus /metrics endpoint.")
    port_offset: int = Field(
        0,
        ge=0,
        le=50000,
        description="Added to every port this process listens on (the targets' and the metrics port; not "
        "one given with serve --port): 100 moves `leadgen up` to 3100-3102, 8100, 8180 and 9190, out of the "
        "way of another program holding one of its ports.",
    )
    shutdown_delay_seconds: float = Field(
        0.0,
        ge=0,
        description="After SIGTERM, answer /readyz with 503 this long before draining, so the "
        "endpoint is removed from Services first (longer than the readiness probe period in a pod).",
    )
    drain_timeout_seconds: float = Field(20.0, ge=0, description="Time allowed to finish in-flight requests.")
    max_body_bytes: int = Field(65536, ge=1024, description="Largest request body accepted.")
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Proxies whose X-Forwarded-For/-Proto are believed: comma-separated addresses and "
        "networks (CIDR). The client's address is the right-most X-Forwarded-For entry not among them; "
        "* believes every entry, the left-most too, which the client writes itself (development only).",
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        # uvicorn keeps an entry it cannot parse as a literal that matches nothing; say so instead.
        entries = [entry.strip() for entry in value.split(",")]
        if entries == ["*"]:
            return value
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is neither an IP address nor a network (CIDR)") from None
        return value


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class ServicesSettings(_Group, prefix="SERVICES_"):
    api_url: AnyHttpUrl = Field(AnyHttpUrl("http://127.0.0.1:3000"), description="Base URL of the api target.")
    data_service_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:3001"), description="Base URL of the data-service target."
    )
    orchestrator_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:3002"), description="Base URL of the orchestrator target."
    )
    dashboard_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8080"),
        description="Public base URL of the dashboard (the frontend), for the links in e-mails to agents and admins.",
    )

    def dashboard_link(self, path: str) -> str:
        return str(self.dashboard_url).rstrip("/") + path


MAX_DEDUPE_WINDOW_DAYS = 3650
DedupeWindowDays = Annotated[int, Field(ge=0, le=MAX_DEDUPE_WINDOW_DAYS)]


class IntakeSettings(_Group, prefix="INTAKE_"):
    rate_limit: str = Field(
        "50/second",
        description="Leads accepted per source, whichever of its API keys sent them (one limit, limits notation).",
    )
    public_rate_limit: str = Field(
        "10/minute", description="Quote-form submissions per client IP (one limit, limits notation)."
    )
    dedupe_window_days: DedupeWindowDays = Field(
        30, description="Look-back window for duplicates, in days, of every line not given its own."
    )
    dedupe_window_days_by_line: Annotated[dict[Line, DedupeWindowDays], NoDecode] = Field(
        default_factory=dict,
        description="Look-back windows for duplicates, in days, of the lines given their own, as line=days "
        f"separated by commas (auto=30,life=90; lines: {', '.join(Line)}). A line not listed has "
        "LEADGEN_INTAKE_DEDUPE_WINDOW_DAYS.",
    )

    @field_validator("rate_limit", "public_rate_limit")
    @classmethod
    def _readable_by_the_limiter(cls, rule: str) -> str:
        return _one_limit(rule)

    @field_validator("dedupe_window_days_by_line", mode="before")
    @classmethod
    def _line_equals_days(cls, value: object) -> object:
        """Read whole here, so that an error names the line or the days at fault."""
        if not isinstance(value, str):
            return value
        lines = {line.value: line for line in Line}
        windows: dict[Line, int] = {}
        for pair in filter(None, (item.strip() for item in value.split(","))):
            name, equals, days = (part.strip() for part in pair.partition("="))
            if not equals:
                raise ValueError(f"{pair!r} is not line=days")
            line = lines.get(name.lower())
            if line is None:
                raise ValueError(f"{name!r} is not a line ({', '.join(lines)})")
            if line in windows:
                raise ValueError(f"{line} is given twice")
            if not (days.isascii() and days.isdigit()) or int(days) > MAX_DEDUPE_WINDOW_DAYS:
                raise ValueError(f"{pair!r}: the days must be a whole number from 0 to {MAX_DEDUPE_WINDOW_DAYS}")
            windows[line] = int(days)
        return windows


class RoutingSettings(_Group, prefix="ROUTING_"):
    sla_minutes: int = Field(15, ge=1, description="Minutes an agent has to accept an offered lead.")
    max_attempts: int = Field(3, ge=1, le=20, description="Agents offered a lead before it is UNASSIGNED.")
    return_window_hours: int = Field(
        72,
        ge=0,
        le=24 * 365,
        description="Hours in which an agent may return a lead, at most a year (8,760): a longer window "
        "leaves a source's bill open for good, and one of millennia overflowed the date to return a lead by.",
    )
    duplicates_to_owner: bool = Field(
        True,
        description="Tell the agents who accepted a person's earlier lead when the same person asks again "
        "(the new lead stays DUPLICATE and is offered to nobody).",
    )


# The consent record of a lead is kept unchanged five years (the FTC's Telemarketing Sales Rule, and
# our brief; ``privacy.rules.CONSENT_KEPT``), so the retention is at least that. Counted from the
# person's last activity, never earlier than the lead's receipt, a retention of five years at their
# longest (1,827 days, two of them leap days) and a day for a consent time up to five minutes ahead of
# receipt (``compliance.rules.CONSENT_CLOCK_SKEW``) reaches no record younger than that.
MIN_RETENTION_DAYS = 1828


class PrivacySettings(_Group, prefix="PRIVACY_"):
    retention_days: int = Field(
        0,
        ge=0,
        description="Days after a person's last activity (the latest receipt or event of any of their leads, "
        "whatever its status) after which their leads are anonymised as an erasure does, "
        "aggregates kept, by an hourly job. 0, the default, keeps everything; otherwise at least "
        f"{MIN_RETENTION_DAYS}, so that no consent record younger than five years is touched.",
    )

    @field_validator("retention_days")
    @classmethod
    def _consent_records_kept_five_years(cls, days: int) -> int:
        if 0 < days < MIN_RETENTION_DAYS:
            raise ValueError(
                f"0 (off) or at least {MIN_RETENTION_DAYS} days: consent records are kept unchanged five years"
            )
        return days


class WorkerSettings(_Group, prefix="WORKER_"):
    queues: str = Field("pipeline,default", description="Comma-separated Celery queues this worker consumes.")
    concurrency: int = Field(4, ge=1, le=64, description="Tasks run at once by one worker process.")
    outbox_lease_seconds: float = Field(
        30.0, gt=0, description="An unprocessed outbox event is handed to the queue again after this."
    )
    outbox_keep_processed_days: int = Field(
        7,
        ge=1,
        description="A processed outbox event is deleted this many days after it was processed (nothing reads it "
        "then; the days are for looking into what happened to it).",
    )


# The longest display name of the From address: a person's text opens with it, then the line, the
# agent, STOP and HELP, in one 160-character segment (notifications.templates.acknowledgement_text).
MAX_SENDER_NAME = 30


class SmtpSettings(_Group, prefix="SMTP_"):
    host: str = Field("127.0.0.1", description="SMTP server host.")
    port: int = Field(1025, description="SMTP server port.")
    username: str | None = Field(None, description="SMTP user, if the server needs one.")
    password: SecretStr | None = Field(None, description="SMTP password.")
    sender: str = Field(
        "leads@leadgen.local",
        description="From address of notifications, with the agency's name as its display name "
        '("Lone Star Insurance <leads@lonestar.example>"): a text to a person names the same sender (the '
        f"address's domain when it has none), so the name is at most {MAX_SENDER_NAME} characters.",
    )
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS.")

    @field_validator("sender")
    @classmethod
    def _an_address_with_a_short_name(cls, value: str) -> str:
        name, address = parseaddr(value)
        if "@" not in address:
            raise ValueError(
                f"{value!r} is not an e-mail address (leads@agency.example, or Agency <leads@agency.example>)"
            )
        if len(name.strip()) > MAX_SENDER_NAME:
            raise ValueError(
                f"its display name has {len(name.strip())} characters: at most {MAX_SENDER_NAME}, as a text to a "
                "person opens with it and keeps to one segment"
            )
        return value


class SmsSettings(_Group, prefix="SMS_"):
    api_url: AnyHttpUrl = Field(
        AnyHttpUrl("https://api.twilio.com"), description="Base URL of a Twilio-compatible Messages API."
    )
    account_sid: str | None = Field(None, description="Account SID; SMS is off while it is empty.")
    auth_token: SecretStr | None = Field(None, description="Auth token of the SMS account.")
    from_number: str | None = Field(None, description="Sending number in E.164 form.")
    reply_webhook_url: AnyHttpUrl | None = Field(
        None,
        description="Public URL of the replies webhook as entered at the provider "
        "(https://app.DOMAIN/api/v1/opt-outs/sms); the provider signs each request over it. Empty: the "
        "URL the request arrived at, which is right only when no proxy rewrites it.",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.account_sid and self.auth_token and self.from_number)


ProviderSetting = Literal["local", "openai", "anthropic", "cohere"]


class LLMSettings(_Group, prefix="LLM_"):
    provider: ProviderSetting = Field(
        "local",
        description="Who reads lead notes for intent and urgency: local (keyword rules, no key), openai, "
        "anthropic or cohere. A remote provider without LEADGEN_LLM_API_KEY means local.",
    )
    api_key: SecretStr | None = Field(None, description="API key of the chosen provider (may be a mounted file).")
    model: str | None = Field(None, description="Model name; empty means the provider's default (see docs/LLM.md).")
    base_url: AnyHttpUrl | None = Field(
        None,
        description="Base URL handed to the provider's SDK (a self-hosted gateway or a proxy); empty means the "
        "SDK's own. OpenAI-style URLs include /v1; Anthropic and Cohere URLs are the host root.",
    )
    timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=60,
        description="Longest a classification may take, the one retry included; then the local classifier answers.",
    )
    daily_call_limit: int = Field(
        1000,
        ge=0,
        description="Provider calls allowed per UTC day (per process unless a shared budget is wired); "
        "past it the local classifier answers. 0 never calls the provider.",
    )
    max_output_tokens: int = Field(
        200, ge=16, le=4096, description="Upper bound on the tokens a provider may generate for one answer."
    )


class Settings:
    """All groups, validated together."""

    GROUPS: ClassVar[dict[str, type[_Group]]] = {
        "common": CommonSettings,
        "db": DatabaseSettings,
        "redis": RedisSettings,
        "qdrant": QdrantSettings,
        "neo4j": Neo4jSettings,
        "security": SecuritySettings,
        "http": HttpSettings,
        "services": ServicesSettings,
        "intake": IntakeSettings,
        "routing": RoutingSettings,
        "privacy": PrivacySettings,
        "worker": WorkerSettings,
        "smtp": SmtpSettings,
        "sms": SmsSettings,
        "llm": LLMSettings,
    }

    common: CommonSettings
    db: DatabaseSettings
    redis: RedisSettings
    qdrant: QdrantSettings
    neo4j: Neo4jSettings
    security: SecuritySettings
    http: HttpSettings
    services: ServicesSettings
    intake: IntakeSettings
    routing: RoutingSettings
    privacy: PrivacySettings
    worker: WorkerSettings
    smtp: SmtpSettings
    sms: SmsSettings
    llm: LLMSettings

    # ``needs`` is positional only: a group named in ``overrides`` never binds to it.
    def __init__(self, needs: frozenset[str] | None = None, /, **overrides: dict[str, Any]) -> None:
        """Every group, validated; given ``needs``, the resources of the targets to run, also what
        those targets cannot run without (``requirement_problems``). One ``ConfigError`` names
        every problem found, so that an operator fixes them in one round."""
        problems: list[str] = []
        secrets_dir = _secrets_dir()
        for name, group in self.GROUPS.items():
            try:
                value = group(_secrets_dir=secrets_dir, **overrides.get(name, {}))
            except ValidationError as exc:
                problems.extend(_describe(group, exc))
                continue
            setattr(self, name, value)
        if needs is not None:
            problems.extend(self.requirement_problems(needs))
        if problems:
            raise ConfigError(problems)

    @property
    def is_development(self) -> bool:
        return self.common.environment is Environment.DEVELOPMENT

    @property
    def database_url(self) -> str:
        if self.db.url is not None:
            return self.db.url.get_secret_value()
        return f"sqlite+aiosqlite:///{self.common.data_dir / 'leadgen.db'}"

    def requirement_problems(self, needs: frozenset[str]) -> list[str]:
        """Settings a process that needs ``needs`` cannot run without, named for the operator.

        Only groups that validated are judged (the others are named by their errors); without the
        environment, nothing is.
        """
        problems: list[str] = []
        valid = vars(self)
        if "common" not in valid or self.is_development:
            return problems
        if "db" in needs and "db" in valid:
            if self.db.url is None:
                problems.append("LEADGEN_DB_URL: required outside development (PostgreSQL URL)")
            elif self.database_url.startswith("sqlite"):
                problems.append("LEADGEN_DB_URL: SQLite is for development only; use PostgreSQL")
        if needs & {"redis", "broker"} and "redis" in valid and self.redis.embedded:
            problems.append("LEADGEN_REDIS_URL or LEADGEN_REDIS_SENTINELS: required outside development")
        if "http" in valid and self.http.forwarded_allow_ips.strip() == "*":
            # Rate limits and consent records would take whatever address a client wrote.
            problems.append(
                "LEADGEN_HTTP_FORWARDED_ALLOW_IPS: * believes client-written addresses; list the proxies' networks"
            )
        if "broker" in needs and "services" in valid and self.services.dashboard_url.host in LOOPBACK_HOSTS:
            # Its tasks e-mail agents and admins links to the dashboard.
            problems.append("LEADGEN_SERVICES_DASHBOARD_URL: the dashboard's public URL, not this machine's")
        if "security" in valid:
            for field in SecuritySettings.model_fields:
                value = getattr(self.security, field)
                if isinstance(value, SecretStr):
                    problems.extend(_secret_problems(f"LEADGEN_SECURITY_{field.upper()}", value))
        return problems

    def listening_problems(self) -> list[str]:
        """Why this process must not listen where LEADGEN_HTTP_HOST says: development accepts the
        published placeholder secrets, with which anyone who reaches a non-loopback interface could
        forge sign-in tokens and session cookies, so those serve this machine only."""
        if self.http.host in LOOPBACK_HOSTS:
            return []
        weak = [
            f"LEADGEN_SECURITY_{field.upper()}"
            for field in SecuritySettings.model_fields
            if isinstance(value := getattr(self.security, field), SecretStr) and _secret_problems(field, value)
        ]
        if not weak:
            return []
        return [
            f"LEADGEN_HTTP_HOST: {self.http.host} serves other machines, and {', '.join(weak)} "
            f"{'is' if len(weak) == 1 else 'are'} not a real secret (the published development placeholder, "
            f"or under {MIN_SECRET_LENGTH} characters); listen on 127.0.0.1, or set real secrets"
        ]


def _secret_problems(name: str, value: SecretStr) -> list[str]:
    raw = value.get_secret_value()
    if raw.startswith(PLACEHOLDER_PREFIX) or raw.lower() in {"changeme", "secret", "password"}:
        return [f"{name}: a development placeholder; set a real secret"]
    if len(raw) < MIN_SECRET_LENGTH:
        return [f"{name}: must be at least {MIN_SECRET_LENGTH} characters"]
    return []


def _describe(group: type[_Group], exc: ValidationError) -> list[str]:
    return [f"{group.env_prefix}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()]


class ConfigError(Exception):
    """Every missing or invalid setting, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings; tests call ``get_settings.cache_clear()`` after changing the environment."""
    return Settings()
