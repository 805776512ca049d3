"""Render the kustomize trees under k8s/ and read what a workload gets from them.

The container-image tests use :func:`target_runtime` to start each target with exactly the
environment and secret files the development overlay gives it::

    from tests.k8s.render import dev_target_runtime, target_runtime

    runtime = target_runtime("api")            # the dev overlay by default
    runtime.env                                # ConfigMap values + literal env (LEADGEN_*)
    runtime.secret_files                       # {"LEADGEN_DB_URL": "postgresql://...", ...}
    runtime.write_secrets(tmp_path)            # files as mounted at /var/run/secrets/leadgen
    runtime.args                               # ["serve", "--target", "api"]
"""

from __future__ import annotations

import base64
import re
import secrets
import shutil
import string
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"

# Environments and the component combinations the suite builds.
OVERLAYS = ("dev", "staging", "prod")
VARIANTS = ("dev-gke", "prod-gke", "staging-ingress")
# Headlamp, applied once per cluster by an admin: as it is, and on GKE.
DASHBOARDS = ("dashboard", "variants/dashboard-gke")
# Every rendered target that is deployed as a whole: overlays, variants and the dashboards.
DEPLOYABLE = (
    *(f"overlays/{name}" for name in OVERLAYS),
    *(f"variants/{name}" for name in VARIANTS),
    *DASHBOARDS,
)
NAMESPACES = {"dev": "leadgen-dev", "staging": "leadgen-staging", "prod": "leadgen-prod"}
SECRETS_DIR = "/var/run/secrets/leadgen"

Resource = dict[str, Any]


class RenderError(RuntimeError):
    """kubectl kustomize failed."""


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        raise RenderError("kubectl (with its built-in kustomize) is not on PATH")
    return path


def kustomization_dirs() -> list[Path]:
    """Every directory under k8s/ with a kustomization.yaml, Kustomizations and Components."""
    return sorted(p.parent for p in K8S.rglob("kustomization.yaml"))


def is_component(directory: Path) -> bool:
    data = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return isinstance(data, dict) and data.get("kind") == "Component"


@cache
def render_text(relative: str) -> str:
    """`kubectl kustomize k8s/<relative>` (cached for the session)."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / relative)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize k8s/{relative} failed:\n{result.stderr}")
    return result.stdout


@cache
def _render(relative: str) -> tuple[Resource, ...]:
    return tuple(d for d in yaml.safe_load_all(render_text(relative)) if d)


def render(relative: str) -> list[Resource]:
    """The resources of `kubectl kustomize k8s/<relative>`, e.g. render("overlays/prod")."""
    return list(_render(relative))


def overlay(name: str) -> list[Resource]:
    return render(f"overlays/{name}")


# ---------------------------------------------------------------------------------------------
# Looking things up in a rendered list


def key(resource: Resource) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def find(resources: Iterable[Resource], kind: str, name: str) -> Resource:
    for resource in resources:
        if key(resource) == (kind, name):
            return resource
    raise KeyError(f"{kind}/{name} not rendered")


def of_kind(resources: Iterable[Resource], *kinds: str) -> list[Resource]:
    return [r for r in resources if r["kind"] in kinds]


def traefik_middlewares(ingress: Resource) -> list[str]:
    """The Middlewares (<namespace>-<name>) an Ingress asks Traefik's CRD provider for."""
    named = (ingress["metadata"].get("annotations") or {}).get("traefik.ingress.kubernetes.io/router.middlewares", "")
    return [ref.strip().removesuffix("@kubernetescrd") for ref in named.split(",") if ref.strip()]


def on_gke(resources: Iterable[Resource]) -> bool:
    """Whether k8s/components/gke switched the render to GKE (its StorageClasses are labelled gcp)."""
    return any(sc["metadata"]["labels"].get("leadgen.io/cloud") == "gcp" for sc in of_kind(resources, "StorageClass"))


def by_original_name(resources: Iterable[Resource], kind: str, name: str) -> Resource:
    """A generated ConfigMap/Secret by the name before kustomize's hash suffix."""
    pattern = re.compile(rf"^{re.escape(name)}(-[a-z0-9]{{10}})?$")
    matches = [r for r in resources if r["kind"] == kind and pattern.match(r["metadata"]["name"])]
    if len(matches) != 1:
        raise KeyError(f"{kind}/{name}: {len(matches)} matches")
    return matches[0]


POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def pod_template(workload: Resource) -> dict[str, Any]:
    """The pod template (metadata + spec) of a workload."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template: dict[str, Any] = spec["template"]
    return template


def pod_spec(workload: Resource) -> dict[str, Any]:
    spec: dict[str, Any] = pod_template(workload)["spec"]
    return spec


def containers(workload: Resource, *, init: bool = True) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    found: list[dict[str, Any]] = list(spec.get("containers", []))
    if init:
        found += spec.get("initContainers", [])
    return found


def workloads(resources: Iterable[Resource]) -> list[Resource]:
    return [r for r in resources if r["kind"] in POD_TEMPLATE_KINDS]


def app_deployment(resources: Iterable[Resource], target: str) -> Resource:
    """The workload that runs `leadgen serve --target <target>` (or the migration Job)."""
    for workload in workloads(resources):
        for container in containers(workload, init=False):
            args = container.get("args", [])
            if args[:2] == ["serve", "--target"] and args[2] == target:
                return workload
    raise KeyError(f"no workload runs target {target!r}")


# ---------------------------------------------------------------------------------------------
# What a target's process gets: environment and secret files


def _decode_secret(secret: Resource) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


_TEMPLATE_FIELD = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")


def _sample_value(field_name: str) -> str:
    """A stand-in for a value held in the cloud secret manager (URL-safe, >= 32 chars)."""
    alphabet = string.ascii_letters + string.digits
    if field_name == "username":
        return "leadgen"
    return "".join(secrets.choice(alphabet) for _ in range(40))


def external_secret_files(external_secret: Resource) -> dict[str, str]:
    """The keys an ExternalSecret writes, its template filled with sample remote values."""
    template = external_secret["spec"]["target"]["template"]["data"]
    samples: dict[str, str] = {}

    def fill(match: re.Match[str]) -> str:
        return samples.setdefault(match.group(1), _sample_value(match.group(1)))

    return {k: _TEMPLATE_FIELD.sub(fill, v) for k, v in template.items()}


def secret_contents(resources: list[Resource], name: str) -> dict[str, str]:
    """Keys of the Secret `name` as the cluster will hold them: a rendered (generated) Secret,
    or the target of an ExternalSecret with sample values."""
    for resource in resources:
        if resource["kind"] == "Secret" and resource["metadata"]["name"] == name:
            return _decode_secret(resource)
    for resource in of_kind(resources, "ExternalSecret"):
        if resource["spec"]["target"].get("name", resource["metadata"]["name"]) == name:
            return external_secret_files(resource)
    raise KeyError(f"Secret {name} is neither rendered nor created by an ExternalSecret")


def _configmap(resources: list[Resource], name: str) -> dict[str, str]:
    return dict(find(resources, "ConfigMap", name).get("data") or {})


def container_env(resources: list[Resource], container: dict[str, Any]) -> dict[str, str]:
    """envFrom ConfigMaps, then literal env entries (downward-API entries are left out)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(_configmap(resources, source["configMapRef"]["name"]))
        if "secretRef" in source:
            env.update(secret_contents(resources, source["secretRef"]["name"]))
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
    return env


def mounted_secret_sources(workload: Resource, mount_path: str = SECRETS_DIR) -> list[dict[str, Any]]:
    """Secrets projected into `mount_path` of the first container, in mount order, as projected
    volume sources: `name`, and `items` and `optional` where set."""
    container = containers(workload, init=False)[0]
    volume_names = {m["name"] for m in container.get("volumeMounts", []) if m["mountPath"] == mount_path}
    sources: list[dict[str, Any]] = []
    for volume in pod_spec(workload).get("volumes", []):
        if volume["name"] not in volume_names:
            continue
        if "secret" in volume:
            secret = dict(volume["secret"])
            sources.append({"name": secret.pop("secretName"), **secret})
        sources += [s["secret"] for s in volume.get("projected", {}).get("sources", []) if "secret" in s]
    return sources


def mounted_secret_names(workload: Resource, mount_path: str = SECRETS_DIR) -> list[str]:
    """Secrets projected into `mount_path` of the first container, in mount order."""
    return [source["name"] for source in mounted_secret_sources(workload, mount_path)]


def mounted_secret_files(
    resources: list[Resource], workload: Resource, mount_path: str = SECRETS_DIR
) -> dict[str, str]:
    """File name -> content of everything mounted at `mount_path` (honours `items`). An optional
    Secret that does not exist adds nothing, as the kubelet starts the pod without it."""
    files: dict[str, str] = {}
    for source in mounted_secret_sources(workload, mount_path):
        try:
            contents = secret_contents(resources, source["name"])
        except KeyError:
            if source.get("optional"):
                continue
            raise
        items = source.get("items")
        if items:
            files.update({i["path"]: contents[i["key"]] for i in items})
        else:
            files.update(contents)
    return files


@dataclass(frozen=True)
class TargetRuntime:
    """How one target runs in an overlay."""

    target: str
    overlay: str
    workload: str
    image: str
    args: list[str]
    env: dict[str, str]
    secret_files: dict[str, str]
    container_ports: dict[str, int] = field(default_factory=dict)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def write_secrets(self, directory: Path) -> Path:
        """Write the secret files as the pod sees them; returns the directory (LEADGEN_SECRETS_DIR)."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in self.secret_files.items():
            (directory / name).write_text(content)
        return directory

    def process_env(self, secrets_dir: Path) -> dict[str, str]:
        """The environment to start the process with, secrets read from `secrets_dir`."""
        return {**self.env, "LEADGEN_SECRETS_DIR": str(secrets_dir)}


def target_runtime(target: str, overlay_name: str = "dev") -> TargetRuntime:
    """Environment, secret files, args, ports and probes of `target` in an overlay."""
    resources = overlay(overlay_name)
    workload = app_deployment(resources, target)
    container = containers(workload, init=False)[0]
    return TargetRuntime(
        target=target,
        overlay=overlay_name,
        workload=workload["metadata"]["name"],
        image=container["image"],
        args=list(container.get("args", [])),
        env=container_env(resources, container),
        secret_files=mounted_secret_files(resources, workload),
        container_ports={p["name"]: p["containerPort"] for p in container.get("ports", [])},
        probes={
            kind: container[kind] for kind in ("startupProbe", "readinessProbe", "livenessProbe") if kind in container
        },
    )


def dev_target_runtime(target: str) -> TargetRuntime:
    """Shorthand for the container-image tests: the dev overlay's view of `target`."""
    return target_runtime(target, "dev")


def iter_strings(value: Any) -> Iterator[str]:
    """Every string inside a nested structure (keys and values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from iter_strings(v)
    elif isinstance(value, list):
        for item in value:
            yield from iter_strings(item)


K8S_UNITS_MIB = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}


def mib(value: str, units: dict[str, float] = K8S_UNITS_MIB) -> float:
    """A quantity in MiB: Kubernetes memory units by default, or the ``units`` given."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", value.strip())
    assert match and match.group(2) in units, f"{value!r}: a unit of {sorted(units)} expected"
    return float(match.group(1)) * units[match.group(2)]
