"""EKS cluster-admin access entries are keyed by principal, so removing one admin touches no other.

Keyed by position (``admin-0``, ``admin-1``, ...), removing the first admin re-pointed every later
key at another principal: ``principal_arn`` forces replacement, EKS refuses a second entry for a
principal, and an apply could leave the CI deploy role without access half way. The key
expression of ``modules/eks-cluster/main.tf`` is evaluated by Terraform itself (no provider
needed); the state migration of ``move-access-entries-to-arn-keys.sh`` is planned with the AWS
provider when its offline mirror is on the machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.test_control_plane_access import EKS, REQUIRED, plan_variables
from tests.infrastructure.tf_support import TF_ROOT

MIGRATION = TF_ROOT / "aws" / "move-access-entries-to-arn-keys.sh"
PROVIDER_MIRROR = Path("/opt/tf-plugins")
AWS_PROVIDER = "5.100.0"  # the version in the mirror; the access resources' schema is the same in 6.x
# The module path of the registry module's access resources in an environment's state.
EKS_MODULE = "module.platform.module.cluster.module.eks"
ALICE, BOB, CI = (f"arn:aws:iam::111111111111:role/{name}" for name in ("alice", "bob", "ci-deploy"))
ENV = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}


def terraform(workdir: Path, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.fail("terraform (1.11) is not on PATH")
    return subprocess.run(
        [binary, *args, "-no-color"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**ENV, "TF_CLI_CONFIG_FILE": str(config or os.devnull)},
    )


def key_expression() -> tuple[str, str, str]:
    """(for-clause, key, element) of the ``access_entries`` map in modules/eks-cluster/main.tf."""
    text = (EKS / "main.tf").read_text()
    match = re.search(
        r"access_entries = \{\s*for (?P<clause>(?:\w+, )?(?P<element>\w+) in [\w.]+) : (?P<key>.+?) =>", text
    )
    assert match, "access_entries is no longer a for expression over cluster_admin_principal_arns"
    return match.group("clause"), match.group("key"), match.group("element")


def entry_keys(admins: list[str], workdir: Path) -> dict[str, str]:
    """principal ARN -> key of its access entry, as Terraform computes the module's keys."""
    clause, key, element = key_expression()
    workdir.mkdir(parents=True)
    shutil.copy(EKS / "variables.tf", workdir / "variables.tf")
    (workdir / "keys.tf").write_text(f'output "keys" {{\n  value = {{ for {clause} : {key} => {element} }}\n}}\n')
    values = {**REQUIRED[EKS], "cluster_admin_principal_arns": admins}
    (workdir / "values.tfvars.json").write_text(json.dumps(values))
    applied = terraform(workdir, "apply", "-auto-approve", "-input=false", "-var-file=values.tfvars.json")
    assert applied.returncode == 0, applied.stderr
    output = terraform(workdir, "output", "-json", "keys")
    keys: dict[str, str] = json.loads(output.stdout)
    return {arn: key for key, arn in keys.items()}


def test_removing_an_admin_keeps_the_others_keys(tmp_path: Path) -> None:
    before = entry_keys([ALICE, BOB, CI], tmp_path / "before")
    after = entry_keys([BOB, CI], tmp_path / "after")
    assert after == {arn: before[arn] for arn in (BOB, CI)}, f"keys moved: {before} -> {after}"


def test_an_admin_listed_twice_is_refused(tmp_path: Path) -> None:
    result = plan_variables(EKS, {"cluster_admin_principal_arns": [ALICE, BOB, ALICE]}, tmp_path)
    assert result.returncode != 0 and "lists an ARN twice" in " ".join(result.stderr.split()), result.stderr


# ---------------------------------------------------------------------------------------------
# Existing state: position keys move to ARN keys before the first plan of the new code

HARNESS = {
    "main.tf": f"""
terraform {{
  required_providers {{ aws = {{ source = "hashicorp/aws", version = "{AWS_PROVIDER}" }} }}
}}
provider "aws" {{
  region                      = "eu-west-1"
  access_key                  = "offline"
  secret_key                  = "offline"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}}
variable "cluster_admin_principal_arns" {{ type = list(string) }}
module "platform" {{
  source = "./platform"
  admins = var.cluster_admin_principal_arns
}}
""",
    "platform/main.tf": """
variable "admins" { type = list(string) }
module "cluster" {
  source                       = "../cluster"
  cluster_admin_principal_arns = var.admins
}
""",
    # modules/eks-cluster's key expression (filled in) over the registry module's two resources.
    "cluster/main.tf": """
variable "cluster_admin_principal_arns" { type = list(string) }
module "eks" {
  source         = "../eks"
  access_entries = { for CLAUSE : KEY => { principal_arn = ELEMENT, policy = "cluster-admin" } }
}
""",
    # terraform-aws-modules/eks 21.15.1: entries by key, associations by "<key>_<policy key>".
    "eks/main.tf": """
variable "access_entries" { type = any }
resource "aws_eks_access_entry" "this" {
  for_each      = var.access_entries
  cluster_name  = "leadgen-prod"
  principal_arn = each.value.principal_arn
}
resource "aws_eks_access_policy_association" "this" {
  for_each      = { for key, entry in var.access_entries : "${key}_${entry.policy}" => entry }
  cluster_name  = "leadgen-prod"
  policy_arn    = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
  principal_arn = each.value.principal_arn
  access_scope { type = "cluster" }
  depends_on = [aws_eks_access_entry.this]
}
""",
}
POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def position_keyed_state(admins: list[str]) -> dict[str, Any]:
    """The state an environment applied before the change: entries under admin-<position>."""
    provider = 'provider["registry.terraform.io/hashicorp/aws"]'
    stamp = {"created_at": "2026-01-01T00:00:00Z", "modified_at": "2026-01-01T00:00:00Z", "timeouts": None}
    entries = [
        {
            "index_key": f"admin-{index}",
            "schema_version": 0,
            "sensitive_attributes": [],
            "attributes": {
                **stamp,
                "id": f"leadgen-prod:{arn}",
                "cluster_name": "leadgen-prod",
                "principal_arn": arn,
                "access_entry_arn": f"arn:aws:eks:eu-west-1:111111111111:access-entry/leadgen-prod/{index}",
                "kubernetes_groups": [],
                "tags": {},
                "tags_all": {},
                "type": "STANDARD",
                "user_name": arn,
            },
        }
        for index, arn in enumerate(admins)
    ]
    associations = [
        {
            "index_key": f"admin-{index}_cluster-admin",
            "schema_version": 0,
            "sensitive_attributes": [],
            "attributes": {
                "id": f"leadgen-prod#{arn}#{POLICY}",
                "cluster_name": "leadgen-prod",
                "principal_arn": arn,
                "policy_arn": POLICY,
                "access_scope": [{"type": "cluster", "namespaces": []}],
                "associated_at": "2026-01-01T00:00:00Z",
                "modified_at": "2026-01-01T00:00:00Z",
                "timeouts": None,
            },
        }
        for index, arn in enumerate(admins)
    ]
    resource = {"module": EKS_MODULE, "mode": "managed", "name": "this", "provider": provider}
    return {
        "version": 4,
        "terraform_version": "1.11.0",
        "serial": 1,
        "lineage": "access-entries",
        "outputs": {},
        "resources": [
            {**resource, "type": "aws_eks_access_entry", "instances": entries},
            {**resource, "type": "aws_eks_access_policy_association", "instances": associations},
        ],
    }


def plan_lines(workdir: Path, config: Path, admins: list[str]) -> list[str]:
    """The resource lines and the summary of an offline plan (no refresh, no AWS call)."""
    planned = terraform(
        workdir,
        "plan",
        "-refresh=false",
        "-input=false",
        f"-var=cluster_admin_principal_arns={json.dumps(admins)}",
        config=config,
    )
    assert planned.returncode == 0, planned.stderr
    return [line.strip() for line in planned.stdout.splitlines() if re.match(r"\s*(# module\.|Plan:|No changes)", line)]


@pytest.mark.slow
def test_existing_state_moves_to_arn_keys_without_a_change(tmp_path: Path) -> None:
    mirror = PROVIDER_MIRROR / "registry.terraform.io" / "hashicorp" / "aws" / AWS_PROVIDER
    if not mirror.is_dir() or shutil.which("jq") is None:
        pytest.skip(f"needs the AWS provider {AWS_PROVIDER} in {PROVIDER_MIRROR} and jq")
    clause, key, element = key_expression()
    for name, text in HARNESS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        code = text.replace("CLAUSE", clause).replace("KEY", key).replace("ELEMENT", element)
        (tmp_path / name).write_text(code)
    config = tmp_path / "cli.tfrc"
    config.write_text(f'provider_installation {{\n  filesystem_mirror {{ path = "{PROVIDER_MIRROR}" }}\n}}\n')
    (tmp_path / "terraform.tfstate").write_text(json.dumps(position_keyed_state([ALICE, BOB, CI])))
    initialised = terraform(tmp_path, "init", "-input=false", config=config)
    assert initialised.returncode == 0, initialised.stderr

    moved = subprocess.run(
        ["bash", str(MIGRATION)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**ENV, "TF_CLI_CONFIG_FILE": str(config)},
    )
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.count("terraform state mv") == 6, moved.stdout

    assert plan_lines(tmp_path, config, [ALICE, BOB, CI]) == [
        "No changes. Your infrastructure matches the configuration."
    ]
    assert plan_lines(tmp_path, config, [BOB, CI]) == [
        f'# {EKS_MODULE}.aws_eks_access_entry.this["{ALICE}"] will be destroyed',
        f'# {EKS_MODULE}.aws_eks_access_policy_association.this["{ALICE}_cluster-admin"] will be destroyed',
        "Plan: 0 to add, 0 to change, 2 to destroy.",
    ]
