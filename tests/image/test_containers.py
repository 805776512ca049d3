"""The image, built for real and run as the pods run it (see harness.py for the restrictions)."""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
import time
import tomllib
import urllib.parse
import urllib.request
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from leadgen.demo.book import ADMIN_EMAIL, DEMO_PASSWORD
from leadgen.targets.registry import HTTP_TARGETS, TARGETS
from tests.image import harness
from tests.image.conftest import IN_CI

# Slow; the first test also builds the image (a few minutes on a fresh machine), hence the timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

PYPROJECT = tomllib.loads((harness.REPO / "pyproject.toml").read_text())
READY_TIMEOUT = 60.0


def test_image_metadata(image: str) -> None:
    assert re.fullmatch(r"sha256:[0-9a-f]{64}|[0-9a-f]{64}", image), f"the tests run a tag, not an image ID: {image}"
    config = harness.image_config(image)
    labels: dict[str, str] = config.get("Labels") or {}
    assert labels["org.opencontainers.image.version"] == PYPROJECT["project"]["version"]
    assert labels["org.opencontainers.image.source"].startswith(("https://", "git@"))
    assert labels["org.opencontainers.image.revision"]
    assert config["User"] == f"{harness.UID}:{harness.UID}"
    assert config["Entrypoint"] == ["leadgen"]
    assert config["Cmd"] == ["up"]
    assert harness.DATA_DIR in (config.get("Volumes") or {})
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["LEADGEN_DATA_DIR"] == harness.DATA_DIR
    assert env["LEADGEN_SECRETS_DIR"] == harness.SECRETS_DIR
    exposed = {int(port.split("/")[0]) for port in config.get("ExposedPorts") or {}}
    assert exposed == {t.http_port for t in TARGETS.values() if t.http_port} | {harness.METRICS_PORT}
    print(f"\nimage {image}: {harness.image_size_bytes(image) / 1e6:.0f} MB")


def test_cli_lists_the_registry_targets(image: str) -> None:
    out = harness.run_once(image, ["targets", "--json"], harness.brief_config("frontend"), "targets")
    listed = {row["target"]: row["port"] for row in json.loads(out)}
    assert listed == {name: t.http_port for name, t in TARGETS.items()}


def test_only_tmp_and_the_data_dir_are_writable(image: str) -> None:
    probe = (
        "import json, os, pathlib\n"
        "out = {}\n"
        "for d in ['/', '/opt/venv', '/opt/venv/lib', '/etc', '/var/run/secrets/leadgen', '/run', "
        "'/var/tmp', '/tmp', '/var/lib/leadgen']:\n"
        "    try:\n"
        "        p = pathlib.Path(d, '.probe'); p.write_text('x'); p.unlink(); out[d] = 'rw'\n"
        "    except OSError as exc:\n"
        "        out[d] = 'ro'\n"
        "print(json.dumps(out)); print(os.getuid(), os.getgid())\n"
    )
    out = _run_python(image, probe, harness.brief_config("frontend"))
    lines = out.strip().splitlines()
    writable = {k for k, v in json.loads(lines[0]).items() if v == "rw"}
    assert writable == {"/tmp", harness.DATA_DIR}
    assert lines[1] == f"{harness.UID} {harness.UID}"


# Run in the image by its virtualenv's interpreter; reports on it and on the base interpreter
# beneath it (the official base image installs pip, setuptools and wheel into /usr/local).
INSTALLER_PROBE = textwrap.dedent(
    """
    import json, shutil, subprocess, sys

    LIST = "import importlib.metadata as m, json; print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"
    found = {"on_path": [n for n in ("pip", "pip3", "wheel", "easy_install") if shutil.which(n)], "interpreters": {}}
    for exe in (sys.executable, sys._base_executable):
        pip = subprocess.run([exe, "-m", "pip", "--version"], capture_output=True, text=True)
        names = subprocess.run([exe, "-c", LIST], capture_output=True, text=True, check=True).stdout
        found["interpreters"][exe] = {"pip_exit": pip.returncode, "distributions": json.loads(names)}
    print(json.dumps(found))
    """
)


def test_neither_interpreter_has_an_installer(image: str) -> None:
    found = json.loads(_run_python(image, INSTALLER_PROBE, harness.brief_config("frontend")))
    interpreters: dict[str, dict[str, Any]] = found["interpreters"]
    assert len(interpreters) == 2, f"the virtualenv's interpreter is the base's: {interpreters}"
    assert found["on_path"] == []
    for exe, seen in interpreters.items():
        assert seen["pip_exit"] != 0, f"{exe} -m pip runs"
        names = {str(name).lower() for name in seen["distributions"]}
        assert not names & {"pip", "setuptools", "wheel"}, f"{exe} has {sorted(names & {'pip', 'setuptools', 'wheel'})}"
    venv = next(seen for exe, seen in interpreters.items() if exe.startswith("/opt/venv/"))
    assert "leadgen" in {str(name).lower() for name in venv["distributions"]}


def _run_python(image: str, code: str, config: harness.TargetConfig) -> str:
    """`python -c` in the image, as the frontend's wait-for-api init container runs it."""
    name = f"leadgen-test-python-{uuid.uuid4().hex[:8]}"
    with harness.pod_mounts(config.secrets) as mounts:
        result = harness.podman(
            "run",
            "--rm",
            *harness.pod_run_options(name, config, mounts),
            "--entrypoint",
            "python",
            image,
            "-c",
            code,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_migration_job_runs_in_the_image(migrated_slot: harness.Slot) -> None:
    async def revisions() -> list[str]:
        conn = await asyncpg.connect(migrated_slot.db_url)
        try:
            return [row["version_num"] for row in await conn.fetch("SELECT version_num FROM alembic_version")]
        finally:
            await conn.close()

    assert len(asyncio.run(revisions())) == 1


def _check_probes(port: int, metrics_port: int) -> None:
    for path in ("/healthz", "/readyz"):
        status, body = harness.http_get(f"http://127.0.0.1:{port}{path}")
        assert status == 200, f"{path} on {port}: {status} {body}"
    status, body = harness.http_get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert status == 200, f"/metrics: {status} {body[:500]}"
    assert "# TYPE " in body


def _host_ports(target: str, config: harness.TargetConfig) -> tuple[list[str], dict[str, int]]:
    """Arguments and named ports: the pod's ports when free, else free ones (another process here
    holds them; never under CI=true, where that is a failure)."""
    args = list(config.args)
    ports = {"metrics": harness.METRICS_PORT}
    if TARGETS[target].http_port is not None:
        ports["http"] = TARGETS[target].http_port or 0
    for name, port in list(ports.items()):
        if harness.port_free(port):
            continue
        if IN_CI:
            pytest.fail(f"port {port} is taken on the CI machine")
        ports[name] = harness.free_port()
        if name == "metrics":
            config.env["LEADGEN_HTTP_METRICS_PORT"] = str(ports[name])
        else:
            args += ["--port", str(ports[name])]
    return args, ports


@pytest.mark.parametrize("target", list(TARGETS))
def test_target_serves_probes_and_metrics_under_pod_restrictions(
    image: str, migrated_slot: harness.Slot, target: str
) -> None:
    stores = {"db_url": migrated_slot.db_url, "redis_url": migrated_slot.redis_url}
    config = harness.target_config(target, **stores)
    print(f"\n{target}: {config.source}, args {config.args}; {'; '.join(config.notes) or 'no changes'}")
    assert config.args[-2:] == ["--target", target]
    with ExitStack() as stack:
        if target == "frontend":  # ready only when the api answers, as in the cluster
            api_config = harness.target_config("api", **stores)
            api_config.env["LEADGEN_HTTP_METRICS_PORT"] = str(harness.free_port())
            api = stack.enter_context(harness.run_container(image, api_config.args, api_config, "api-peer"))
            api.wait_http("http://127.0.0.1:3000/readyz", READY_TIMEOUT)
        args, ports = _host_ports(target, config)
        container = stack.enter_context(harness.run_container(image, args, config, target))
        probe_port = ports.get("http", ports["metrics"])
        seconds = container.wait_http(f"http://127.0.0.1:{probe_port}/readyz", READY_TIMEOUT)
        print(f"{target}: /readyz 200 after {seconds:.2f}s")
        _check_probes(probe_port, ports["metrics"])
        if "http" in ports:
            _check_probes(ports["metrics"], ports["metrics"])  # the probes are served on the metrics port too
        for kind, url in config.probe_urls(ports).items():  # the manifests' probes hit real routes
            status, body = harness.http_get(url)
            assert status == 200, f"{kind} {url}: {status} {body[:300]}"
        started = time.monotonic()
        stop = harness.podman("stop", "--time", "40", container.name, check=False, timeout=90)
        exit_code = harness.podman("inspect", container.name, "--format", "{{.State.ExitCode}}").stdout.strip()
        assert stop.returncode == 0 and exit_code == "0", f"SIGTERM exit {exit_code}:\n{container.logs()}"
        assert time.monotonic() - started < 35, "did not drain and exit within the grace period"
        logs = container.logs()
    json_lines = [line for line in logs.splitlines() if line.startswith("{")]
    assert json_lines, f"no structured JSON log lines:\n{logs}"
    json.loads(json_lines[0])


# An auto lead from Dallas, TX: the demo book's around-the-clock desk is licensed there.
LEAD: dict[str, Any] = {
    "line": "auto",
    "external_id": "image-e2e-1",
    "exclusive": True,
    "contact": {
        "first_name": "Dana",
        "last_name": "Whitfield",
        "email": "dana.whitfield@example.com",
        "phone": "(214) 555-0142",
        "address": {"street": "1500 Main St", "city": "Dallas", "zip": "75201"},
        "date_of_birth": "1986-04-12",
    },
    "currently_insured": True,
    "current_carrier": "Example Mutual",
    "consent": {
        "text": "By submitting this form I agree to be contacted about insurance quotes by phone, "
        "text and e-mail, including by automated means. Consent is not a condition of purchase.",
        "captured_at": datetime.now(UTC).isoformat(),
        "ip": "203.0.113.7",
        "page_url": "https://quotes.example.com/auto",
    },
    "details": {
        "drivers": [{"age_first_licensed": 17, "incidents_last_5_years": 0}],
        "vehicles": [{"year": 2019, "make": "Toyota", "model": "Camry", "annual_mileage": 12000}],
        "coverage_tier": "standard",
    },
}


def test_leadgen_up_routes_a_lead_end_to_end(image: str) -> None:
    busy = [
        p
        for p in (*(TARGETS[t].http_port for t in HTTP_TARGETS), harness.METRICS_PORT)
        if p is not None and not harness.port_free(p)
    ]
    if busy:
        if IN_CI:
            pytest.fail(f"ports {busy} are taken on the CI machine")
        pytest.skip(f"`leadgen up` needs ports {busy}, which another process holds")
    with harness.run_container(image, ["up"], harness.up_config(), "up") as up:
        for target in HTTP_TARGETS:
            up.wait_http(f"http://127.0.0.1:{TARGETS[target].http_port}/readyz", READY_TIMEOUT)
        up.wait_http(f"http://127.0.0.1:{harness.METRICS_PORT}/readyz", READY_TIMEOUT)
        loaded = up.exec("leadgen", "demo", "load", "--json")
        assert loaded.returncode == 0, loaded.stderr
        created = up.exec("leadgen", "api-keys", "create", "image-e2e-vendor", "--json")
        assert created.returncode == 0, created.stderr
        key = json.loads(created.stdout)["api_key"]

        body = json.dumps(LEAD).encode()
        request = urllib.request.Request(
            "http://127.0.0.1:3000/api/v1/leads",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "X-API-Key": key},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 202
            accepted = json.loads(answer.read())
        lead_url = f"http://127.0.0.1:3000/api/v1/leads/{accepted['id']}"

        deadline = time.monotonic() + 60
        lead: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status, text = harness.http_get(lead_url, headers={"X-API-Key": key})
            assert status == 200, text
            lead = json.loads(text)
            if lead["status"] not in {"RECEIVED", "SCORED"}:
                break
            time.sleep(0.2)
        assert lead.get("status") == "ROUTED", f"lead ended {lead.get('status')}: {lead}\n{up.logs()}"
        assert lead["state"] == "TX"
        # The source reads how its lead fared; staff read whom it was offered to.
        form = urllib.parse.urlencode({"username": ADMIN_EMAIL, "password": DEMO_PASSWORD}).encode()
        with urllib.request.urlopen("http://127.0.0.1:3000/api/v1/auth/token", data=form, timeout=10) as answer:
            token = json.loads(answer.read())["access_token"]
        status, text = harness.http_get(lead_url, headers={"Authorization": f"Bearer {token}"})
        assert status == 200, text
        offer = json.loads(text)["assignment"]
        assert offer["status"] == "PENDING"
        print(f"\nlead {accepted['id']} ROUTED to {offer.get('agent_name')}")
