"""Every IAM role the EKS Terraform creates has a name AWS accepts, in every environment.

`terraform plan` cannot run here (no providers), and the AWS provider checks name lengths only
then: a role name may hold 64 characters, a name prefix 38 (the provider appends a 26-character
unique suffix). The names are evaluated from the parsed HCL, with the defaults of the pinned
registry modules where our calls leave an input unset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from tests.infrastructure.tf_support import (
    ENVIRONMENTS,
    TF_ROOT,
    environment_settings,
    flat_locals,
    load_module_dir,
    render_template,
)

ROLE_NAME_LIMIT = 64
ROLE_NAME_PREFIX_LIMIT = 38
AWS_MODULES = TF_ROOT / "aws" / "modules"

# terraform-aws-modules/eks 21.x: the cluster role is "<name>-cluster" and each managed node
# group's "<node group name>-eks-node-group", both used as name prefixes ("<role name>-") unless
# the call says iam_role_use_name_prefix = false. eks-pod-identity does the same with its name.
EKS_CLUSTER_ROLE_SUFFIX = "-cluster"
EKS_NODE_GROUP_ROLE_SUFFIX = "-eks-node-group"


@dataclass(frozen=True)
class RoleName:
    """One IAM role: its name, or the prefix AWS completes when ``is_prefix``."""

    origin: str
    name: str
    is_prefix: bool

    @property
    def problem(self) -> str | None:
        limit = ROLE_NAME_PREFIX_LIMIT if self.is_prefix else ROLE_NAME_LIMIT
        if len(self.name) <= limit:
            return None
        kind = "name prefix" if self.is_prefix else "name"
        return f"{self.origin}: role {kind} {self.name!r} has {len(self.name)} characters, AWS allows {limit}"


def module_role(origin: str, name: str, use_name_prefix: bool) -> RoleName:
    """A registry module's role: the name itself, or the prefix "<name>-"."""
    return RoleName(origin, f"{name}-" if use_name_prefix else name, use_name_prefix)


def _as_bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    return str(value).strip("${}").lower() == "true"


def _node_group_attribute(expression: str, attribute: str) -> str | None:
    """An attribute of the object built per pool by ``local.eks_managed_node_groups`` (a for
    expression that python-hcl2 keeps as text)."""
    match = re.search(rf"(?<![\w.]){attribute}\s*=\s*(\"[^\"]*\"|true|false)", expression)
    return match.group(1).strip('"') if match else None


def eks_cluster_roles(env: str) -> list[RoleName]:
    cluster = load_module_dir(AWS_MODULES / "eks-cluster")
    locals_ = flat_locals(cluster)
    variables = {"environment": env}
    eks = cluster.modules["eks"][0].body
    assert eks["eks_managed_node_groups"] == "${local.eks_managed_node_groups}"

    cluster_name = render_template(eks["name"], variables=variables, locals_=locals_)
    cluster_role = eks.get("iam_role_name") or f"{cluster_name}{EKS_CLUSTER_ROLE_SUFFIX}"
    roles = [module_role("eks cluster", cluster_role, _as_bool(eks.get("iam_role_use_name_prefix"), default=True))]

    node_groups = str(cluster.local("eks_managed_node_groups"))
    for pool in environment_settings("aws", env)["node_groups"]:
        group_name = _node_group_attribute(node_groups, "name")
        assert group_name, "the node groups no longer set a name"
        role = _node_group_attribute(node_groups, "iam_role_name") or f"{group_name}{EKS_NODE_GROUP_ROLE_SUFFIX}"
        rendered = render_template(role.replace("${pool}", pool), variables=variables, locals_=locals_)
        use_prefix = _as_bool(_node_group_attribute(node_groups, "iam_role_use_name_prefix"), default=True)
        roles.append(module_role(f"node group {pool}", rendered, use_prefix))
    return roles


def pod_identity_roles(env: str) -> list[RoleName]:
    addons = load_module_dir(AWS_MODULES / "cluster-addons")
    platform = load_module_dir(AWS_MODULES / "platform")
    # The add-ons get the cluster's own name, leadgen-<environment>.
    assert platform.modules["addons"][0].body["cluster_name"] == "${module.cluster.cluster_name}"
    call = addons.modules["pod_identity"][0].body
    assert call["for_each"] == "${local.pod_identities}"
    variables = {"cluster_name": f"leadgen-{env}"}
    return [
        module_role(
            f"pod identity {key}",
            render_template(call["name"], variables=variables, locals_=flat_locals(addons), each_key=key),
            _as_bool(call.get("use_name_prefix"), default=True),
        )
        for key in addons.local("pod_identities")
    ]


def resource_roles(env: str) -> list[RoleName]:
    """Every ``aws_iam_role`` resource of the AWS modules (for_each over a local map)."""
    roles = []
    for directory in sorted(p for p in AWS_MODULES.iterdir() if p.is_dir()):
        mod = load_module_dir(directory)
        locals_ = flat_locals(mod)
        for address, decls in mod.resources.items():
            if not address.startswith("aws_iam_role."):
                continue
            body = decls[0].body
            is_prefix = "name_prefix" in body
            template = body["name_prefix" if is_prefix else "name"]
            instances: dict[str | None, Any] = {None: None}
            if "for_each" in body:
                local_map = re.fullmatch(r"\$\{local\.(\w+)\}", str(body["for_each"]))
                assert local_map, f"{address} iterates over {body['for_each']}, which this test cannot read"
                instances = dict(locals_[local_map.group(1)])
            for key, value in instances.items():
                name = render_template(
                    template, variables={"environment": env}, locals_=locals_, each_key=key, each_value=value
                )
                roles.append(RoleName(f"{directory.name}: {address}", name, is_prefix))
    return roles


def all_roles(env: str) -> list[RoleName]:
    return [*eks_cluster_roles(env), *pod_identity_roles(env), *resource_roles(env)]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_eks_iam_role_name_fits_the_aws_limits(env: str) -> None:
    roles = all_roles(env)
    assert len(roles) >= 2 + len(environment_settings("aws", env)["node_groups"]), "roles were not found"
    problems = [role.problem for role in roles if role.problem]
    assert not problems, f"aws/environments/{env}:\n" + "\n".join(problems)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_eks_iam_role_names_are_unique(env: str) -> None:
    """Two roles with one fixed name cannot both be created in the account."""
    fixed = [role.name for role in all_roles(env) if not role.is_prefix]
    assert len(fixed) == len(set(fixed)), sorted(fixed)
