"""Who may reach the Kubernetes API: the modules' variable validations, run by Terraform itself.

Validations need no provider: ``terraform plan`` on a copy of a module's ``variables.tf`` alone (no
resources, nothing to download) evaluates them with the values given. A public endpoint without
CIDRs is open to every address on both clouds (EKS fills an empty list with 0.0.0.0/0, GKE then
sends no authorised networks), so the modules refuse it, and any /0.

Nor may the list be every address written some other way (0.0.0.0/1 plus 128.0.0.0/1): no IPv4 entry
wider than /8 (the blocks IANA hands the registries; no one organisation holds a wider one), no IPv6
entry wider than /32 (a registry's allocation to a whole ISP), and together at most two /8s of IPv4
(room for every private range, 21.9 million addresses, and the operators' own) or two /32s of IPv6.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.tf_support import ENVIRONMENTS, TF_ROOT, parse

EKS = TF_ROOT / "aws" / "modules" / "eks-cluster"
GKE = TF_ROOT / "gcp" / "modules" / "gke-cluster"
# Each module's other required variables, with values its own validations accept.
REQUIRED: dict[Path, dict[str, Any]] = {
    EKS: {
        "environment": "prod",
        "kubernetes_version": "1.33",
        "availability_zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
        "vpc_cidr": "10.30.0.0/16",
        "node_groups": {
            pool: {"instance_types": ["m7i.large"], "min_size": 1, "max_size": 1, "desired_size": 1}
            for pool in ("system", "application")
        },
    },
    GKE: {
        "project_id": "leadgen-prod-123456",
        "environment": "prod",
        "region": "europe-west1",
        "subnet_cidr": "10.130.0.0/20",
        "pods_cidr": "10.131.0.0/16",
        "services_cidr": "10.132.0.0/20",
        "master_ipv4_cidr_block": "172.16.130.0/28",
        "node_pools": {
            pool: {"machine_type": "e2-standard-2", "min_count": 1, "max_count": 1}
            for pool in ("system", "application")
        },
    },
}


def plan_variables(module: Path, values: dict[str, Any], workdir: Path) -> subprocess.CompletedProcess[str]:
    """``terraform plan`` of the module's variables alone, given ``values``."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail("terraform (1.11) is not on PATH")
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(module / "variables.tf", workdir / "variables.tf")
    (workdir / "values.tfvars.json").write_text(json.dumps({**REQUIRED[module], **values}))
    return subprocess.run(
        [terraform, "plan", "-input=false", "-lock=false", "-no-color", "-var-file=values.tfvars.json"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"},
    )


def eks(public: bool, cidrs: list[str]) -> dict[str, Any]:
    return {"endpoint_public_access": public, "endpoint_public_access_cidrs": cidrs}


def gke(private: bool, cidrs: list[str]) -> dict[str, Any]:
    networks = [{"cidr_block": cidr, "display_name": "operators"} for cidr in cidrs]
    return {"enable_private_endpoint": private, "master_authorized_networks": networks}


REFUSED = {
    "eks-public-without-cidrs": (EKS, eks(True, []), "needs at least one CIDR"),
    "eks-0.0.0.0/0": (EKS, eks(True, ["0.0.0.0/0"]), "none of them a /0"),
    "eks-another-/0": (EKS, eks(True, ["203.0.113.0/0"]), "none of them a /0"),
    "eks-not-a-cidr": (EKS, eks(True, ["operators"]), "valid CIDRs"),
    "gke-public-without-networks": (GKE, gke(False, []), "needs at least one CIDR"),
    "gke-0.0.0.0/0": (GKE, gke(False, ["0.0.0.0/0"]), "none of them a /0"),
    "gke-::/0": (GKE, gke(True, ["::/0"]), "none of them a /0"),
    "gke-not-a-cidr": (GKE, gke(False, ["operators"]), "valid CIDRs"),
}
HALVES = ["0.0.0.0/1", "128.0.0.0/1"]  # every IPv4 address, without a /0
WIDER_THAN_ALLOWED = "wider than /8 or an IPv6 range wider than /32"
ADD_UP = "together must cover no more than two /8s"


def public(module: Path, cidrs: list[str]) -> dict[str, Any]:
    """A public endpoint allowing ``cidrs``."""
    return eks(True, cidrs) if module == EKS else gke(False, cidrs)


for name, module in (("eks", EKS), ("gke", GKE)):
    REFUSED |= {
        f"{name}-two-halves": (module, public(module, HALVES), WIDER_THAN_ALLOWED),
        f"{name}-a-/7": (module, public(module, ["198.0.0.0/7"]), WIDER_THAN_ALLOWED),
        f"{name}-ipv6-/31": (module, public(module, ["2001:db8::/31"]), WIDER_THAN_ALLOWED),
        f"{name}-three-/8s": (module, public(module, ["11.0.0.0/8", "12.0.0.0/8", "13.0.0.0/8"]), ADD_UP),
        f"{name}-ipv6-three-/32s": (
            module,
            public(module, ["2001:db8::/32", "2001:db9::/32", "2001:dba::/32"]),
            ADD_UP,
        ),
    }
PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "203.0.113.0/24"]
ACCEPTED = {
    "eks-private": (EKS, eks(False, [])),
    "eks-public-one-range": (EKS, eks(True, ["203.0.113.0/24"])),
    "eks-public-a-/8-and-an-ipv6-/32": (EKS, eks(True, ["11.0.0.0/8", "2001:db8::/32"])),
    "eks-public-private-ranges-and-operators": (EKS, eks(True, PRIVATE_RANGES)),
    "gke-private": (GKE, gke(True, [])),
    "gke-public-one-range": (GKE, gke(False, ["203.0.113.0/24"])),
    "gke-public-a-/8-and-an-ipv6-/32": (GKE, gke(False, ["11.0.0.0/8", "2001:db8::/32"])),
    "gke-public-private-ranges-and-operators": (GKE, gke(False, PRIVATE_RANGES)),
}


@pytest.mark.parametrize(("module", "values", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_refuses_an_endpoint_open_to_every_address(
    module: Path, values: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    result = plan_variables(module, values, tmp_path)
    assert result.returncode != 0, f"{module.name} accepts {values}"
    assert "Invalid value for variable" in result.stderr, result.stderr
    assert reason in " ".join(result.stderr.split()), result.stderr


@pytest.mark.parametrize(("module", "values"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_accepts_a_private_or_restricted_endpoint(module: Path, values: dict[str, Any], tmp_path: Path) -> None:
    result = plan_variables(module, values, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_example_installations_pass(env: str, tmp_path: Path) -> None:
    """Each root's terraform.tfvars.example, as modules/platform hands it to the cluster modules."""
    aws = parse(TF_ROOT / "aws" / "environments" / env / "terraform.tfvars.example")["installation"]
    gcp = parse(TF_ROOT / "gcp" / "environments" / env / "terraform.tfvars.example")["installation"]
    handed_on = {
        EKS: {name: aws[name] for name in ("endpoint_public_access", "endpoint_public_access_cidrs")},
        GKE: {name: gcp[name] for name in ("enable_private_endpoint", "master_authorized_networks")},
    }
    for module, values in handed_on.items():
        result = plan_variables(module, values, tmp_path / module.name)
        assert result.returncode == 0, f"{module.name} refuses the {env} example: {result.stderr}"
