"""Schema validation: kubernetes-validate for built-in kinds, tools/crd-validate for custom ones."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from typing import Any

import kubernetes_validate
from kubernetes_validate import utils as kv_utils

from tests.npm_tools import ensure_npm_tool

from .render import REPO, Resource

CRD_TOOL = REPO / "tools" / "crd-validate"

# The issue asks for Kubernetes 1.32 and 1.35; kubernetes-validate 1.37.0 ships schemas for
# every minor from 1.28 to 1.37, so both are checked exactly (asserted in test_schema.py).
KUBERNETES_VERSIONS = ("1.32.0", "1.35.0")

# kubernetes-validate re-reads and re-parses the (multi-megabyte) definitions file for every
# resource; the files never change during a run, so parse each once.
kv_utils.schema_contents = cache(kv_utils.schema_contents)


def shipped_versions() -> list[str]:
    return [str(v) for v in kv_utils.all_versions()]


def is_builtin(resource: Resource, version: str = KUBERNETES_VERSIONS[0]) -> bool:
    """True when kubernetes-validate has a schema for the kind (i.e. it is not a CRD)."""
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return False
    except kubernetes_validate.ValidationError:
        return True
    return True


def builtin_problems(resource: Resource, version: str) -> list[str]:
    """Strict (no unknown fields) validation against one Kubernetes version."""
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = "/".join(str(p) for p in error.path)
        return [f"{version}: {path}: {error.message}"]
    return []


def ensure_node_modules() -> None:
    ensure_npm_tool(CRD_TOOL)


def validate_custom_resources(resources: list[Resource]) -> dict[str, Any]:
    """Run tools/crd-validate on `resources`; returns its JSON report."""
    ensure_node_modules()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH")
    result = subprocess.run(
        [node, str(CRD_TOOL / "validate.mjs"), "--json"],
        input=json.dumps(resources),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if not result.stdout.strip():
        raise RuntimeError(f"crd-validate produced no report:\n{result.stderr}")
    report: dict[str, Any] = json.loads(result.stdout)
    return report
