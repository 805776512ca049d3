"""Run the leadgen image with podman the way the pod spec runs it; shared by tests/image and bench/image.

Every container gets the restrictions of ``k8s/components/workload-defaults/app-hardening.yaml``:
a read-only root filesystem with only ``/tmp`` and the data directory writable (tmpfs, as the
pod's emptyDirs), all capabilities dropped, no privilege escalation, UID/GID 10001, and the
secrets as read-only files. The host network stands in for the cluster network, so the
containers reach the PostgreSQL and Redis servers of this machine on 127.0.0.1.

A target's environment comes from the rendered dev overlay (``tests/k8s/render.py``) when the
Kubernetes layer provides it; otherwise from the settings the brief lists (:func:`brief_config`).
Host names of in-cluster services become 127.0.0.1 either way.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import secrets as random_secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadgen.targets.registry import TARGETS

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "image" / "build-local.sh"
DEFAULT_IMAGE = os.environ.get("LEADGEN_IMAGE", "localhost/leadgen:dev")
UID = 10001
DATA_DIR = "/var/lib/leadgen"
SECRETS_DIR = "/var/run/secrets/leadgen"
METRICS_PORT = 9090
# The host's servers. A test session takes a slot (see take_slot) and with it an image tag, a
# database and a Redis database no other session on this machine uses meanwhile.
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
# Redis for the containers of a caller that takes no slot (bench/image).
HOST_REDIS_URL = "redis://127.0.0.1:6379/14"
# Redis databases of the slots: 0 is the platform's default, 15 the main test suite's
# (tests/conftest.py) and 12-14 are left to developers' own runs (LEADGEN_TEST_REDIS_URL).
SLOT_REDIS_DATABASES = range(1, 12)
SLOT_LOCK_PREFIX = "leadgen-image-tests-slot-"
SLOT_WAIT_SECONDS = 1800.0
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
# Stores with no server on these machines: the rendered overlay may name one; the containers
# then use the embedded equivalent (Qdrant local mode, the embedded graph).
NO_SERVER_HERE = ("LEADGEN_QDRANT_URL", "LEADGEN_QDRANT_API_KEY", "LEADGEN_NEO4J_URI", "LEADGEN_NEO4J_PASSWORD")
LOCK_FILE = Path(tempfile.gettempdir()) / "leadgen-image-tests.lock"
RENDER_MODULE = "tests.k8s.render"
RENDER_FUNCTIONS = ("dev_target_runtime", "target_runtime")


class ImageError(RuntimeError):
    """The image could not be built or a container misbehaved; the message carries its logs."""


# --------------------------------------------------------------------------------------------
# podman and the image
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def host_lock() -> Iterator[None]:
    """Taken while building or running containers: every target listens on its fixed port on the
    host network, so concurrent users (xdist workers, the bench, another session) take turns."""
    with LOCK_FILE.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise ImageError(f"podman {' '.join(args[:3])} ... failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def podman_ready() -> bool:
    """podman is installed and configured as build-local.sh leaves it."""
    if shutil.which("podman") is None:
        return False
    info = subprocess.run(
        ["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"], capture_output=True, text=True, check=False
    )
    return info.returncode == 0 and info.stdout.strip() == "runc"


@dataclass(frozen=True)
class Slot:
    """What one test session has to itself while it holds the slot's lock: an image tag, a
    PostgreSQL database and a Redis database (two checkouts, or two xdist workers, never share)."""

    number: int

    @property
    def image_tag(self) -> str:
        return f"localhost/leadgen-test:slot-{self.number}"

    @property
    def database(self) -> str:
        return f"leadgen_image_test_{self.number}"

    @property
    def db_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:5432/{self.database}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:6379/{self.number}"


@contextlib.contextmanager
def take_slot(timeout: float = SLOT_WAIT_SECONDS) -> Iterator[Slot]:
    """Hold the first free slot until the block ends (the lock goes with the process should it die);
    when every slot is taken, wait for one."""
    deadline = time.monotonic() + timeout
    while True:
        for number in SLOT_REDIS_DATABASES:
            handle = (Path(tempfile.gettempdir()) / f"{SLOT_LOCK_PREFIX}{number}.lock").open("a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                yield Slot(number)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        if time.monotonic() > deadline:
            raise ImageError(f"every image-test slot stayed taken for {timeout:.0f}s")
        time.sleep(1)


def build_image(image: str = DEFAULT_IMAGE, log_file: Path | None = None) -> str:
    """Run scripts/image/build-local.sh (installs podman and makes the base image when missing)."""
    env = {**os.environ, "LEADGEN_IMAGE": image}
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, env=env, timeout=1800, check=False
    )
    if log_file is not None:
        log_file.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise ImageError(f"build-local.sh failed ({result.returncode}):\n{result.stderr[-6000:]}")
    built = result.stdout.strip().splitlines()[-1]
    if built != image:
        raise ImageError(f"build-local.sh built {built!r}, expected {image!r}")
    print(f"built {image} in {time.monotonic() - started:.0f}s")
    return image


def image_id(image: str) -> str:
    """The image's ID: unlike a tag, nothing another build does can move it to other content."""
    return podman("image", "inspect", image, "--format", "{{.Id}}").stdout.strip()


def image_size_bytes(image: str) -> int:
    return int(podman("image", "inspect", image, "--format", "{{.Size}}").stdout.strip())


def image_config(image: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(podman("image", "inspect", image).stdout)
    config: dict[str, Any] = data[0]["Config"]
    return config


# --------------------------------------------------------------------------------------------
# a target's configuration
# --------------------------------------------------------------------------------------------


@dataclass
class TargetConfig:
    """How one target's container runs: environment, secret files (name -> content), arguments,
    and, when the overlay gives them, its named container ports and probes."""

    env: dict[str, str]
    secrets: dict[str, str]
    source: str
    args: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def probe_urls(self, host_ports: Mapping[str, int]) -> dict[str, str]:
        """URL of every httpGet probe, with named ports resolved to the ports used on the host."""
        urls = {}
        for kind, probe in self.probes.items():
            get = probe.get("httpGet")
            if not get:
                continue
            port = get["port"]
            number = host_ports.get(port, self.ports.get(port)) if isinstance(port, str) else int(port)
            urls[kind] = f"http://127.0.0.1:{number}{get.get('path', '/')}"
        return urls


def target_config(target: str, *, db_url: str, redis_url: str = HOST_REDIS_URL) -> TargetConfig:
    rendered = rendered_config(target)
    base = rendered if rendered is not None else brief_config(target)
    return localise(base, db_url=db_url, redis_url=redis_url)


def rendered_config(target: str) -> TargetConfig | None:
    """The target's environment and secret files from the rendered dev overlay, if k8s/ provides it."""
    try:
        module = importlib.import_module(RENDER_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name not in {"tests.k8s", RENDER_MODULE}:
            raise
        return None
    function = next((getattr(module, n) for n in RENDER_FUNCTIONS if callable(getattr(module, n, None))), None)
    if function is None:
        raise ImageError(
            f"{RENDER_MODULE} exists but has none of {', '.join(RENDER_FUNCTIONS)}; "
            "tests/image/harness.py reads a target's dev-overlay runtime (env, secret_files, args) from it"
        )
    runtime = function(target)
    env, files = getattr(runtime, "env", None), getattr(runtime, "secret_files", None)
    if not isinstance(env, Mapping) or not isinstance(files, Mapping):
        raise ImageError(f"{RENDER_MODULE}.{function.__name__}({target!r}) has no env/secret_files: {runtime!r}")
    return TargetConfig(
        env={str(k): str(v) for k, v in env.items()},
        secrets={Path(str(k)).name: str(v) for k, v in files.items()},
        source=f"rendered dev overlay ({RENDER_MODULE}.{function.__name__})",
        args=[str(a) for a in getattr(runtime, "args", None) or default_args(target)],
        ports={str(k): int(v) for k, v in (getattr(runtime, "container_ports", None) or {}).items()},
        probes=dict(getattr(runtime, "probes", None) or {}),
    )


def default_args(target: str) -> list[str]:
    return ["serve", "--target", target]


def up_config() -> TargetConfig:
    """`leadgen up` as a laptop runs it: embedded stores, every peer on 127.0.0.1, no secrets, so
    listening on 127.0.0.1 only (the README runs it the same way)."""
    config = brief_config("frontend")
    config.env = {k: v for k, v in config.env.items() if not k.startswith(("LEADGEN_SERVICES_", "LEADGEN_SMTP_"))}
    config.env["LEADGEN_HTTP_HOST"] = "127.0.0.1"
    config.secrets.clear()
    return config


def brief_config(target: str) -> TargetConfig:
    """The settings BRIEF.md lists, shaped as the dev overlay will give them (secrets as files)."""
    spec = TARGETS[target]
    env = {
        "LEADGEN_ENVIRONMENT": "development",
        "LEADGEN_LOG_FORMAT": "json",
        "LEADGEN_LOG_LEVEL": "INFO",
        "LEADGEN_HTTP_HOST": "0.0.0.0",
        "LEADGEN_HTTP_METRICS_PORT": str(METRICS_PORT),
        "LEADGEN_DATA_DIR": DATA_DIR,
        "LEADGEN_SECRETS_DIR": SECRETS_DIR,
        "LEADGEN_SERVICES_API_URL": "http://api:3000",
        "LEADGEN_SERVICES_DATA_SERVICE_URL": "http://data-service:3001",
        "LEADGEN_SERVICES_ORCHESTRATOR_URL": "http://orchestrator:3002",
        "LEADGEN_SMTP_HOST": "mailpit",
        "LEADGEN_SMTP_PORT": "1025",
    }
    files = {
        "LEADGEN_SECURITY_JWT_SECRET": random_secrets.token_urlsafe(48),
        "LEADGEN_SECURITY_PII_HASH_KEY": random_secrets.token_urlsafe(48),
        "LEADGEN_SECURITY_SESSION_SECRET": random_secrets.token_urlsafe(48),
    }
    if "db" in spec.needs:
        files["LEADGEN_DB_URL"] = "postgresql://leadgen@postgres:5432/leadgen"
    if spec.needs & {"redis", "broker"}:
        files["LEADGEN_REDIS_URL"] = "redis://redis:6379/0"
    ports = {"metrics": METRICS_PORT} | ({"http": spec.http_port} if spec.http_port else {})
    return TargetConfig(
        env, files, "settings listed in BRIEF.md (no rendered overlay yet)", default_args(target), ports
    )


def localise(config: TargetConfig, *, db_url: str, redis_url: str) -> TargetConfig:
    """Point every in-cluster address at this machine: hosts become 127.0.0.1, the stores ours."""
    env, files, notes = dict(config.env), dict(config.secrets), list(config.notes)
    moved: list[str] = []
    for values in (env, files):
        for key in list(values):
            if key in NO_SERVER_HERE:
                del values[key]
                notes.append(f"{key} dropped: no such server here, the embedded store is used")
            elif key == "LEADGEN_DB_URL":
                values[key] = db_url
                notes.append(f"LEADGEN_DB_URL -> the host's PostgreSQL ({db_url.rsplit('/', 1)[-1]})")
            elif key == "LEADGEN_REDIS_URL":
                values[key] = redis_url
                notes.append("LEADGEN_REDIS_URL -> the host's Redis")
            elif key == "LEADGEN_REDIS_SENTINELS":
                del values[key]
                values["LEADGEN_REDIS_URL"] = redis_url
                notes.append("Redis Sentinels replaced by the host's Redis")
            elif key.endswith(("_URL", "_URI")) and _local_url(values[key]) != values[key]:
                values[key] = _local_url(values[key])
                moved.append(key)
            elif key.endswith("_HOST") and key != "LEADGEN_HTTP_HOST" and values[key] not in LOCAL_HOSTS:
                values[key] = "127.0.0.1"
                moved.append(key)
    if moved:
        notes.append(f"host names -> 127.0.0.1 in {', '.join(sorted(moved))}")
    return TargetConfig(env, files, config.source, list(config.args), dict(config.ports), dict(config.probes), notes)


def _local_url(value: str) -> str:
    parsed = urllib.parse.urlsplit(value)
    if not parsed.hostname or parsed.hostname in LOCAL_HOSTS:
        return value
    netloc = "127.0.0.1" + (f":{parsed.port}" if parsed.port else "")
    if parsed.username:
        netloc = f"{parsed.username}{':' + parsed.password if parsed.password else ''}@{netloc}"
    return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))


# --------------------------------------------------------------------------------------------
# ports and the host's servers
# --------------------------------------------------------------------------------------------


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def recreate_database(name: str) -> str:
    """A fresh database on the host's PostgreSQL for the containers; returns its URL."""
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(*statements: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def flush_redis(url: str) -> None:
    """Empty one Redis database: no queued task or rate-limit count of an earlier session remains."""
    import redis

    with redis.Redis.from_url(url) as client:
        client.flushdb()


# --------------------------------------------------------------------------------------------
# containers
# --------------------------------------------------------------------------------------------


@dataclass
class Container:
    name: str
    launched_at: float  # time.monotonic() just before `podman run`

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return (result.stdout + result.stderr)[-8000:]

    def running(self) -> bool:
        state = podman("inspect", self.name, "--format", "{{.State.Running}}", check=False)
        return state.stdout.strip() == "true"

    def pid(self) -> int:
        return int(podman("inspect", self.name, "--format", "{{.State.Pid}}").stdout.strip())

    def exec(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *args, check=False, timeout=timeout)

    def wait_http(self, url: str, timeout: float = 60) -> float:
        """Seconds from `podman run` until ``url`` answers 200; fails early if the container dies."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        checks = 0
        while time.monotonic() < deadline:
            status, body = http_get(url, timeout=1)
            if status == 200:
                return time.monotonic() - self.launched_at
            last = f"{status} {body[:300]}" if status else body
            checks += 1
            if checks % 25 == 0 and not self.running():
                raise ImageError(f"{self.name} exited before {url} answered:\n{self.logs()}")
            time.sleep(0.02)
        raise ImageError(f"{url} did not answer 200 within {timeout:.0f}s (last: {last}); logs:\n{self.logs()}")


@dataclass(frozen=True)
class PodMounts:
    """The host folders a container gets as the pod's volumes (``pod_mounts``)."""

    secrets: Path
    data: Path


def pod_run_options(name: str, config: TargetConfig, mounts: PodMounts) -> list[str]:
    """`podman run` options equivalent to the pod spec's securityContext and volumes."""
    options = [
        "--name",
        name,
        "--network",
        "host",
        "--read-only",
        "--read-only-tmpfs=false",  # only what the pod mounts is writable
        "--tmpfs",
        "/tmp:rw,nosuid,nodev,size=256m",
        "--volume",
        f"{mounts.data}:{DATA_DIR}:rw",
        "--volume",
        f"{mounts.secrets}:{SECRETS_DIR}:ro",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--user",
        f"{UID}:{UID}",
        "--hostname",
        name,
        "--stop-timeout",
        "30",
    ]
    for key, value in sorted(config.env.items()):
        options += ["--env", f"{key}={value}"]
    options += ["--env", f"HOSTNAME={name}"]
    return options


@contextlib.contextmanager
def pod_mounts(secrets: Mapping[str, str]) -> Iterator[PodMounts]:
    """The pod's volumes as host folders, removed afterwards: the secret files, and the data
    directory as the kubelet makes an emptyDir, root's, writable by all, with the fsGroup's group
    and setgid bit (a tmpfs would be given the image's folder's mode): the pod's user may write in
    it but not change its mode."""
    data = Path(tempfile.mkdtemp(prefix="leadgen-data-"))
    if os.geteuid() == 0:
        os.chown(data, 0, UID)
    data.chmod(0o2777)
    folder = write_secret_files(secrets)
    try:
        yield PodMounts(folder, data)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


def write_secret_files(files: Mapping[str, str]) -> Path:
    """Secret files as the projected volume makes them: mode 0440, group 10001 (the pod's fsGroup)."""
    folder = Path(tempfile.mkdtemp(prefix="leadgen-secrets-"))
    folder.chmod(0o755)
    for name, content in files.items():
        path = folder / name
        path.write_text(content)
        if os.geteuid() == 0:
            os.chown(path, 0, UID)
            path.chmod(0o440)
        else:
            path.chmod(0o444)
    return folder


@contextlib.contextmanager
def run_container(image: str, args: list[str], config: TargetConfig, label: str) -> Iterator[Container]:
    """Start a container under the pod's restrictions; always removed afterwards."""
    name = f"leadgen-test-{label}-{uuid.uuid4().hex[:8]}"
    with pod_mounts(config.secrets) as mounts:
        try:
            launched = time.monotonic()
            result = podman("run", "--detach", *pod_run_options(name, config, mounts), image, *args, check=False)
            if result.returncode != 0:
                raise ImageError(f"podman run {label} failed:\n{result.stderr}")
            yield Container(name, launched)
        finally:
            podman("rm", "--force", "--time", "10", name, check=False, timeout=60)


def run_once(image: str, args: list[str], config: TargetConfig, label: str, timeout: float = 300) -> str:
    """Run a one-off command (e.g. the migration Job) under the pod's restrictions; its output."""
    name = f"leadgen-test-{label}-{uuid.uuid4().hex[:8]}"
    with pod_mounts(config.secrets) as mounts:
        result = podman(
            "run", "--rm", *pod_run_options(name, config, mounts), image, *args, check=False, timeout=timeout
        )
    if result.returncode != 0:
        output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        raise ImageError(f"{' '.join(args)} failed ({result.returncode}):\n{output}")
    return result.stdout


def http_get(url: str, timeout: float = 2, headers: Mapping[str, str] | None = None) -> tuple[int, str]:
    """(status, body); status 0 when nothing answered (the body then says why)."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return int(answer.status), answer.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")
    except (OSError, ValueError) as exc:
        return 0, f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------------------
# memory of a running container
# --------------------------------------------------------------------------------------------


@dataclass
class Memory:
    rss_bytes: int  # resident set of every process in the container, summed
    pss_bytes: int  # proportional set: shared pages split between the processes that share them
    processes: int


def container_memory(container: Container) -> Memory:
    """Read /proc of the container's process tree on the host (podman runs it as our child)."""
    pids = _process_tree(container.pid())
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            fields = dict(_kv(line) for line in rollup.splitlines()[1:])
            rss += fields.get("Rss", 0)
            pss += fields.get("Pss", 0)
    return Memory(rss, pss, len(pids))


def container_cpu_seconds(container: Container) -> float:
    """CPU time (user + system) the container's processes have used so far.

    Unlike wall-clock start times it hardly depends on what else the machine is doing.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _process_tree(container.pid()):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


def _kv(line: str) -> tuple[str, int]:
    key, _, rest = line.partition(":")
    parts = rest.split()
    return key.strip(), int(parts[0]) * 1024 if parts and parts[0].isdigit() else 0


def _process_tree(root: int) -> list[int]:
    seen: list[int] = []
    queue = [root]
    while queue:
        pid = queue.pop()
        seen.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                queue += [int(child) for child in (task / "children").read_text().split()]
    return seen
