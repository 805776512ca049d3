"""The code <-> manifest contract.

The code is the source of truth: `leadgen.core.settings` (which settings exist, what each
target requires) and `leadgen.targets.registry.TARGETS` (targets, HTTP ports, needs). For each
overlay and target this checks that the environment and secret files the pod gets make a valid
`Settings` with no `requirement_problems`, that every setting named in a manifest exists, that
each need points at a real Service, and that ports, probes and container arguments match.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

import httpx
import pytest
from limits import parse
from pydantic import SecretStr

from leadgen.core.health import CHECK_TIMEOUT_SECONDS, Health
from leadgen.core.server import ops_app
from leadgen.core.settings import PLACEHOLDER_PREFIX, Settings, get_settings
from leadgen.notifications.email import SEND_SECONDS
from leadgen.targets.registry import HTTP_TARGETS, SMTP, TARGETS

from .render import (
    DASHBOARDS,
    DEPLOYABLE,
    OVERLAYS,
    Resource,
    TargetRuntime,
    app_deployment,
    by_original_name,
    container_env,
    containers,
    find,
    mounted_secret_files,
    mounted_secret_names,
    mounted_secret_sources,
    of_kind,
    overlay,
    pod_spec,
    render,
    secret_contents,
    target_runtime,
    workloads,
)

HEALTH_PORT = 9090  # worker and scheduler serve /healthz, /readyz and /metrics here only
LIVENESS_PATH, READINESS_PATH = "/healthz", "/readyz"
SERVICE_PORTS = {"frontend": 80}  # Service port where it differs from the container port
# Secret concerns by need (registry.py) - the Secret that carries each concern's settings.
SECRET_BY_NEED = {
    "db": "leadgen-db-client",
    "redis": "leadgen-redis-client",
    "broker": "leadgen-redis-client",
    "graph": "leadgen-graph-client",
    "vectors": "leadgen-vectors-client",
    "smtp": "leadgen-smtp-client",
}
# Secrets of features that are off without them, and the targets whose code reads them. A pod
# starts without them (`optional: true`), so a deployment without SMS or an LLM provider runs. No
# need in registry.py names these: the worker sends SMS (notifications.tasks) and the api checks
# the provider's signature on SMS replies (compliance.router); the processes with `vectors` read
# lead notes with the LLM provider (core.resources).
OPTIONAL_SECRETS = {
    "leadgen-sms-client": {"api", "worker"},
    "leadgen-llm-client": {"orchestrator", "worker"},
}
# Secret settings that stand in for each other: with Sentinel (prod) the Redis password replaces the URL.
SECRET_ALTERNATIVES = {"LEADGEN_REDIS_URL": "LEADGEN_REDIS_PASSWORD", "LEADGEN_REDIS_PASSWORD": "LEADGEN_REDIS_URL"}
CASES = [(o, t) for o in OVERLAYS for t in TARGETS]


def known_settings() -> set[str]:
    """Every environment variable / secret file name the settings model reads."""
    names = {"LEADGEN_SECRETS_DIR"}
    for group in Settings.GROUPS.values():
        names |= {f"{group.env_prefix}{field}".upper() for field in group.model_fields}
    return names


def secret_settings() -> set[str]:
    """The settings typed SecretStr: they reach a process only as files of a Secret."""
    return {
        f"{group.env_prefix}{name}".upper()
        for group in Settings.GROUPS.values()
        for name, field in group.model_fields.items()
        if SecretStr in (field.annotation, *get_args(field.annotation))
    }


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("LEADGEN_"):
            monkeypatch.delenv(name)
    yield


def build_settings(runtime: TargetRuntime, directory: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    secrets_dir = runtime.write_secrets(directory)
    for name, value in runtime.process_env(secrets_dir).items():
        monkeypatch.setenv(name, value)
    return Settings()


@pytest.mark.parametrize(("overlay_name", "target"), CASES)
def test_settings_named_in_manifests_exist(overlay_name: str, target: str) -> None:
    """A renamed or misspelt setting in a ConfigMap or Secret fails here."""
    runtime = target_runtime(target, overlay_name)
    known = known_settings()
    unknown = sorted((set(runtime.env) | set(runtime.secret_files)) - known)
    assert not unknown, f"{target} in {overlay_name}: not settings of the app: {unknown}"
    assert runtime.env.get("LEADGEN_SECRETS_DIR") == "/var/run/secrets/leadgen"


@pytest.mark.parametrize(("overlay_name", "target"), CASES)
def test_every_required_setting_is_provided(
    overlay_name: str,
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_environment: None,
) -> None:
    runtime = target_runtime(target, overlay_name)
    settings = build_settings(runtime, tmp_path / "secrets", monkeypatch)
    expected_environment = {"dev": "development", "staging": "staging", "prod": "production"}
    assert settings.common.environment.value == expected_environment[overlay_name]
    assert settings.requirement_problems(TARGETS[target].needs) == []
    # requirement_problems only looks at db/redis/security; check the rest of each need too.
    resources = overlay(overlay_name)
    for need in TARGETS[target].needs:
        check_need(need, settings, resources)
    assert str(settings.common.data_dir) == "/var/lib/leadgen"
    assert settings.http.host == "0.0.0.0"
    assert settings.http.metrics_port == HEALTH_PORT
    # Links in e-mails go to the dashboard as people reach it: the frontend's route, over https.
    frontend_hosts = find(resources, "HTTPRoute", "frontend")["spec"]["hostnames"]
    dashboard = settings.services.dashboard_url
    assert (dashboard.scheme, dashboard.host) in {("https", host) for host in frontend_hosts}


def _service_has_port(resources: list[Resource], host: str, port: int) -> None:
    service = find(resources, "Service", host.split(".")[0])
    assert port in {p["port"] for p in service["spec"]["ports"]}, f"{host}:{port}"


def check_need(need: str, settings: Settings, resources: list[Resource]) -> None:
    if need == "db":
        url = urlsplit(settings.database_url)
        assert url.scheme == "postgresql+asyncpg"
        assert url.password
        assert url.hostname is not None and url.port is not None
        _service_has_port(resources, url.hostname, url.port)
    elif need in ("redis", "broker"):
        if settings.redis.sentinels:
            assert settings.redis.password is not None
            for host, port in settings.redis.sentinel_hosts():
                pod, governing = host.split(".")[:2]
                statefulset = find(resources, "StatefulSet", pod.rsplit("-", 1)[0])
                assert statefulset["spec"]["serviceName"] == governing
                assert int(pod.rsplit("-", 1)[1]) < statefulset["spec"]["replicas"]
                _service_has_port(resources, governing, port)
        else:
            assert settings.redis.url is not None
            url = urlsplit(settings.redis.url.get_secret_value())
            assert url.scheme == "redis" and url.password
            assert url.hostname is not None and url.port is not None
            _service_has_port(resources, url.hostname, url.port)
    elif need == "vectors":
        assert settings.qdrant.url is not None and settings.qdrant.api_key is not None
        assert settings.qdrant.url.host is not None and settings.qdrant.url.port is not None
        _service_has_port(resources, settings.qdrant.url.host, settings.qdrant.url.port)
        _check_qdrant_replication(settings.qdrant.replication_factor, resources)
    elif need == "graph":
        assert settings.neo4j.uri is not None and settings.neo4j.password is not None
        url = urlsplit(settings.neo4j.uri)
        assert url.hostname is not None and url.port is not None
        _service_has_port(resources, url.hostname, url.port)
    elif need == "smtp":
        assert settings.smtp.host not in ("127.0.0.1", "localhost")
        assert settings.smtp.port == 587 and settings.smtp.starttls
        assert settings.smtp.password is not None
    elif need == "api-peer":
        for peer, peer_url in (
            ("api", settings.services.api_url),
            ("data-service", settings.services.data_service_url),
            ("orchestrator", settings.services.orchestrator_url),
        ):
            assert peer_url.host == peer, peer_url
            assert peer_url.port is not None
            assert peer_url.port == SERVICE_PORTS.get(peer, TARGETS[peer].http_port)
            _service_has_port(resources, peer, peer_url.port)
    else:
        pytest.fail(f"unknown need {need!r} in registry.py; teach this test about it")


def _check_qdrant_replication(factor: int, resources: list[Resource]) -> None:
    """On a Qdrant cluster each shard needs more copies than its PDB lets go at once, so that a drain
    or a lost volume takes no vector away; copies beyond the number of peers cannot be placed."""
    peers = find(resources, "StatefulSet", "qdrant")["spec"]["replicas"]
    if peers == 1:
        assert factor == 1, f"LEADGEN_QDRANT_REPLICATION_FACTOR={factor} with a single Qdrant peer"
        return
    disruptions = find(resources, "PodDisruptionBudget", "qdrant")["spec"]["maxUnavailable"]
    assert disruptions < factor <= peers, f"LEADGEN_QDRANT_REPLICATION_FACTOR={factor} with {peers} peers"


@pytest.mark.parametrize(("overlay_name", "target"), CASES)
def test_only_the_needed_secrets_are_mounted(overlay_name: str, target: str) -> None:
    resources = overlay(overlay_name)
    workload = app_deployment(resources, target)
    # Generated (dev) Secrets carry kustomize's 10-character hash suffix.
    mounted = {re.sub(r"-[a-z0-9]{10}$", "", n) for n in mounted_secret_names(workload)}
    required = {"leadgen-app-keys"} | {SECRET_BY_NEED[n] for n in TARGETS[target].needs if n in SECRET_BY_NEED}
    optional = {name for name, readers in OPTIONAL_SECRETS.items() if target in readers}
    assert mounted == required | optional
    for source in mounted_secret_sources(workload):
        name = re.sub(r"-[a-z0-9]{10}$", "", source["name"])
        assert source.get("optional", False) == (name in optional), f"{name}: optional should be {name in optional}"


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_every_secret_setting_has_a_secret(name: str) -> None:
    """Outside development the only way a secret reaches a process: a key of an ExternalSecret."""
    resources = overlay(name)
    delivered = {key for es in of_kind(resources, "ExternalSecret") for key in es["spec"]["target"]["template"]["data"]}
    missing = {s for s in secret_settings() - delivered if SECRET_ALTERNATIVES.get(s) not in delivered}
    assert not missing, f"{name}: no ExternalSecret delivers {sorted(missing)}"


@pytest.mark.parametrize("target_dir", DEPLOYABLE)
def test_no_configmap_or_env_holds_a_secret_setting(target_dir: str) -> None:
    """A secret put into config.env (or a configMapGenerator literal) would be in git and readable by
    every role that reads ConfigMaps; the app would take it, so nothing else fails."""
    secret = secret_settings()
    assert "LEADGEN_SMS_AUTH_TOKEN" in secret and "LEADGEN_LLM_API_KEY" in secret
    resources = render(target_dir)
    found = [
        f"ConfigMap {cm['metadata']['name']}: {key}"
        for cm in of_kind(resources, "ConfigMap")
        for key in cm.get("data") or {}
        if key in secret
    ]
    found += [
        f"{w['kind']} {w['metadata']['name']} container {c['name']}: env {env['name']}"
        for w in workloads(resources)
        for c in containers(w)
        for env in c.get("env", [])
        if env["name"] in secret
    ]
    assert not found, f"secret settings outside Secrets in {target_dir}: {found}"


def test_migration_job_gets_database_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_environment: None
) -> None:
    for name in OVERLAYS:
        resources = overlay(name)
        job = find(resources, "Job", "db-migrate")
        container = containers(job, init=False)[0]
        assert container["args"] == ["db", "upgrade"]
        runtime = target_runtime("api", name)
        job_runtime = TargetRuntime(
            target="db-migrate",
            overlay=name,
            workload="db-migrate",
            image=container["image"],
            args=container["args"],
            env=container_env(resources, container),
            secret_files=mounted_secret_files(resources, job),
        )
        assert job_runtime.image == runtime.image
        settings = build_settings(job_runtime, tmp_path / name, monkeypatch)
        assert settings.requirement_problems(frozenset({"db"})) == []
        check_need("db", settings, resources)


@pytest.mark.parametrize("target_dir", ["overlays/dev", "overlays/staging", "overlays/prod"])
def test_every_app_container_runs_a_real_target(target_dir: str) -> None:
    resources = render(target_dir)
    deployed: list[str] = []
    for w in workloads(resources):
        for c in containers(w, init=False):
            if not c["image"].startswith("ghcr.io/leadgen/leadgen"):
                continue
            args = c.get("args", [])
            if args == ["db", "upgrade"]:
                continue
            assert args[:2] == ["serve", "--target"], w["metadata"]["name"]
            assert args[2] in TARGETS, args
            assert w["metadata"]["name"] == args[2]
            deployed.append(args[2])
    assert sorted(deployed) == sorted(TARGETS)


def _status(app: Any, path: str) -> int:
    """HTTP status of GET `path` on an ASGI app (lifespan not run: no stores are contacted)."""

    async def get() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            return (await client.get(path)).status_code

    return asyncio.run(get())


def _target_app(target: str) -> Any | None:
    """The target's FastAPI app, or None while its module does not exist yet."""
    factory = TARGETS[target].app_factory
    if factory is None:
        return None
    module_name, _, attribute = factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return None
        raise
    try:
        return getattr(module, attribute)()
    finally:
        get_settings.cache_clear()


# Run in a fresh interpreter: this one has long imported every module of the package.
LOADS_MAIL_CLIENT = """
import importlib, sys
from leadgen.core.settings import Settings
from leadgen.targets.registry import TARGETS
module, _, factory = TARGETS[sys.argv[1]].app_factory.partition(":")
getattr(importlib.import_module(module), factory)(Settings())
print("leadgen.notifications.email" in sys.modules)
"""


@pytest.mark.parametrize("target", HTTP_TARGETS)
def test_an_http_target_needs_smtp_exactly_when_its_app_sends_mail(target: str) -> None:
    """The smtp need mounts the SMTP password and opens submission to the internet
    (tests/k8s/flows.py): only for a process whose code can send e-mail."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEADGEN_")}
    result = subprocess.run(
        [sys.executable, "-c", LOADS_MAIL_CLIENT, target],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    sends_mail = result.stdout.strip() == "True"
    assert (SMTP in TARGETS[target].needs) == sends_mail, f"{target} sends mail: {sends_mail}"


@pytest.mark.parametrize(("overlay_name", "target"), CASES)
def test_ports_and_probes_match_the_app(overlay_name: str, target: str) -> None:
    runtime = target_runtime(target, overlay_name)
    resources = overlay(overlay_name)
    assert runtime.container_ports["metrics"] == HEALTH_PORT
    http_port = TARGETS[target].http_port
    if http_port is None:
        assert set(runtime.container_ports) == {"metrics"}
        probe_port_name = "metrics"
    else:
        assert runtime.container_ports["http"] == http_port
        probe_port_name = "http"
        service = find(resources, "Service", target)
        ports = {p["name"]: p for p in service["spec"]["ports"]}
        assert ports["http"]["port"] == SERVICE_PORTS.get(target, http_port)
        assert ports["http"]["targetPort"] == "http"
    paths = {kind: probe["httpGet"]["path"] for kind, probe in runtime.probes.items()}
    assert paths == {
        "startupProbe": LIVENESS_PATH,
        "livenessProbe": LIVENESS_PATH,
        "readinessProbe": READINESS_PATH,
    }
    assert {p["httpGet"]["port"] for p in runtime.probes.values()} == {probe_port_name}
    # The probe paths are routes the code serves (404 would mean a wrong path): on the
    # target's own app for HTTP targets, and on the ops app every process runs on 9090.
    apps = [ops_app(Health())]
    if http_port is not None:
        app = _target_app(target)
        if app is not None:
            apps.append(app)
    for app in apps:
        for path in (LIVENESS_PATH, READINESS_PATH):
            assert _status(app, path) != 404, path
        assert _status(app, "/no-such-probe") == 404
    assert _status(apps[0], "/metrics") != 404


@pytest.mark.parametrize(("overlay_name", "target"), CASES)
def test_graceful_shutdown_fits_the_grace_period(overlay_name: str, target: str) -> None:
    runtime = target_runtime(target, overlay_name)
    workload = app_deployment(overlay(overlay_name), target)
    grace = pod_spec(workload)["terminationGracePeriodSeconds"]
    delay = float(runtime.env["LEADGEN_HTTP_SHUTDOWN_DELAY_SECONDS"])
    drain = float(runtime.env["LEADGEN_HTTP_DRAIN_TIMEOUT_SECONDS"])
    readiness = runtime.probes["readinessProbe"]
    assert readiness["periodSeconds"] * readiness["failureThreshold"] < delay
    assert grace > delay + drain
    if target == "worker":
        # A warm shutdown lets the send in progress end, rather than kill it to be sent again.
        assert grace >= SEND_SECONDS + 60


@pytest.mark.parametrize(("overlay_name", "target"), CASES)
def test_readiness_waits_for_the_apps_own_dependency_checks(overlay_name: str, target: str) -> None:
    """/readyz answers once every check has answered or run out of its own time: a probe that gives
    up sooner fails a pod whose dependencies are merely slow, never seeing the 503 that names one."""
    readiness = target_runtime(target, overlay_name).probes["readinessProbe"]
    assert readiness["timeoutSeconds"] > CHECK_TIMEOUT_SECONDS


@pytest.mark.parametrize("name", OVERLAYS)
def test_rate_limits(name: str) -> None:
    resources = overlay(name)
    api = by_original_name(resources, "ConfigMap", "api-config")["data"]
    limit = parse(api["LEADGEN_INTAKE_RATE_LIMIT"])
    per_second = limit.amount / limit.get_expiry()
    edge = [p for p in of_kind(resources, "BackendTrafficPolicy")]
    if name == "dev":
        assert not edge
        return
    rules = edge[0]["spec"]["rateLimit"]["local"]["rules"]
    edge_rps = rules[0]["limit"]["requests"]
    assert rules[0]["limit"]["unit"] == "Second"
    low, high = {"staging": (50, 100), "prod": (250, 500)}[name]
    assert low <= per_second <= high
    assert low <= edge_rps <= high


@pytest.mark.parametrize("target", ["overlays/dev", "overlays/staging", "overlays/prod", *DASHBOARDS])
def test_pod_hardening(target: str) -> None:
    for w in workloads(render(target)):
        name = w["metadata"]["name"]
        spec = pod_spec(w)
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert context["runAsUser"] >= 10000, name
        assert context["seccompProfile"]["type"] == "RuntimeDefault", name
        if name != "headlamp":
            assert spec["automountServiceAccountToken"] is False, name
        for c in containers(w):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            assert "add" not in sc["capabilities"], (name, c["name"])
            resources = c["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), (name, c["name"])
            assert {"cpu", "memory"} <= set(resources["limits"]), (name, c["name"])
            if c in spec.get("containers", []) and w["kind"] in ("Deployment", "StatefulSet"):
                assert {"readinessProbe", "livenessProbe"} <= set(c), (name, c["name"])
    for account in of_kind(render(target), "ServiceAccount"):
        if account["metadata"]["name"] in {"headlamp", "leadgen-postgres-backup"}:
            continue  # Headlamp and (in prod) CloudNativePG instances use their tokens
        assert account.get("automountServiceAccountToken") is False, account["metadata"]["name"]


def _required_pools(spec: dict[str, Any]) -> set[str]:
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    return {
        v for term in terms for e in term["matchExpressions"] if e["key"] == "leadgen.io/node-pool" for v in e["values"]
    }


@pytest.mark.parametrize("name", OVERLAYS)
def test_node_pools_and_taints(name: str) -> None:
    resources = overlay(name)
    database_toleration = {
        "key": "leadgen.io/dedicated",
        "operator": "Equal",
        "value": "database",
        "effect": "NoSchedule",
    }
    for w in workloads(resources):
        spec = pod_spec(w)
        tier = w["metadata"].get("labels", {}).get("leadgen.io/tier")
        if w["metadata"]["name"] == "orchestrator":
            assert _required_pools(spec) == {"application", "ai"}
            assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"} in spec[
                "tolerations"
            ]
            preferred = spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            assert preferred[0]["preference"]["matchExpressions"][0]["values"] == ["ai"]
        elif tier in ("app", "migration"):
            assert _required_pools(spec) == {"application"}, w["metadata"]["name"]
        else:
            assert _required_pools(spec) == {"database"}, w["metadata"]["name"]
            assert database_toleration in spec["tolerations"], w["metadata"]["name"]
    for cluster in of_kind(resources, "Cluster"):
        affinity = cluster["spec"]["affinity"]
        assert affinity["nodeSelector"] == {"leadgen.io/node-pool": "database"}
        assert database_toleration in affinity["tolerations"]


def test_dev_secrets_are_strong_and_consistent() -> None:
    resources = overlay("dev")
    for generated in of_kind(resources, "Secret"):
        for key, value in secret_contents(resources, generated["metadata"]["name"]).items():
            if key == "username":
                continue
            assert not value.startswith(PLACEHOLDER_PREFIX), key
            assert len(value) >= 32, key

    def secret(name: str) -> dict[str, str]:
        return secret_contents(resources, by_original_name(resources, "Secret", name)["metadata"]["name"])

    postgres = secret("postgres-credentials")
    db_url = urlsplit(secret("leadgen-db-client")["LEADGEN_DB_URL"])
    assert (db_url.username, db_url.password) == (postgres["username"], postgres["password"])
    redis = secret("redis-credentials")["password"]
    assert urlsplit(secret("leadgen-redis-client")["LEADGEN_REDIS_URL"]).password == redis
    assert redis in secret("redis-credentials")["exporter-passwords.json"]
    assert secret("neo4j-credentials")["auth"] == "neo4j/" + secret("leadgen-graph-client")["LEADGEN_NEO4J_PASSWORD"]
    assert secret("qdrant-credentials")["api-key"] == secret("leadgen-vectors-client")["LEADGEN_QDRANT_API_KEY"]


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_no_secret_values_outside_development(name: str) -> None:
    resources = overlay(name)
    assert not of_kind(resources, "Secret")
    names = {es["spec"]["target"]["name"] for es in of_kind(resources, "ExternalSecret")}
    assert names == {
        "leadgen-app-keys",
        "leadgen-db-client",
        "leadgen-redis-client",
        "leadgen-graph-client",
        "leadgen-vectors-client",
        "leadgen-smtp-client",
        "leadgen-sms-client",
        "leadgen-llm-client",
        "postgres-credentials",
        "redis-credentials",
        "neo4j-credentials",
        "qdrant-credentials",
    }
    for w in workloads(resources):
        for c in containers(w):
            for env in c.get("env", []):
                assert "secretKeyRef" not in env.get("valueFrom", {}), "secrets as files only"
            assert not any("secretRef" in s for s in c.get("envFrom", []))
