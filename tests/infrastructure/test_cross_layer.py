"""Cross-layer contract between the Terraform (infrastructure/kubernetes) and the manifests (k8s/).

* Scheduling: every nodeSelector, required node affinity and toleration of the workloads in the
  rendered prod overlay (EKS flavour) and prod + components/gke (GKE flavour) must be satisfiable
  by a node group of the EKS Terraform and a node pool of the GKE Terraform. Labels and taints
  are read from the parsed HCL, so changing a node group's label or dropping the GPU taint fails.
* Storage: every StorageClass provisioner under k8s/infrastructure/storage-classes/{aws,gcp} is
  installed by that cloud's Terraform; every storageClassName the workloads use exists in both.
* Identity: every eks.amazonaws.com/role-arn and iam.gke.io/gcp-service-account annotation
  matches an IAM role / Google service account and its IRSA trust / Workload Identity binding
  that the Terraform creates, and the contract's ServiceAccounts carry them.
* Metrics API: every HPA scales on resource metrics, so each cloud serves metrics.k8s.io.
* Edge: the Gateway's EnvoyProxy gives the proxies a public load balancer that keeps the client's
  address (on EKS an internet-facing NLB from the load balancer controller Terraform installs).
* DNS: External DNS watches every kind of object the manifests publish a host name with (the
  Gateway's HTTPRoutes, the Ingress of k8s/components/ingress); on GKE the DNS policy admits the
  NodeLocal DNSCache the Terraform enables.
* Nothing unused: Cloud SQL and Memorystore exist only for an environment whose GKE manifests read
  their credentials; cert-manager gets cloud DNS permissions only if an Issuer solves DNS-01; no
  edge address is reserved that no load balancer of the manifests can take.

The k8s/ layer is written concurrently by another engineer; until it exists these tests fail
with a message that says so (they never skip).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from leadgen.ops.rules.manifests import strings_in
from tests.infrastructure.tf_support import (
    ENVIRONMENTS,
    REPO_ROOT,
    TF_ROOT,
    TemplateError,
    clean,
    environment_settings,
    flat_locals,
    is_local_source,
    load_module_dir,
    render_template,
)

K8S_DIR = REPO_ROOT / "k8s"
PROD_OVERLAY = K8S_DIR / "overlays" / "prod"
GKE_COMPONENT = K8S_DIR / "components" / "gke"
STORAGE_CLASS_DIRS = {
    "eks": K8S_DIR / "infrastructure" / "storage-classes" / "aws",
    "gke": K8S_DIR / "infrastructure" / "storage-classes" / "gcp",
}
FLAVOURS = ("eks", "gke")

# The contract of issue 6 / the k8s/ layer, restated so a one-sided change is caught even
# before the manifests render.
CONTRACT_POOLS: dict[str, tuple[dict[str, str], frozenset[tuple[str, str, str]]]] = {
    "system": ({"leadgen.io/node-pool": "system"}, frozenset({("CriticalAddonsOnly", "true", "NoSchedule")})),
    "application": ({"leadgen.io/node-pool": "application"}, frozenset()),
    "database": ({"leadgen.io/node-pool": "database"}, frozenset({("leadgen.io/dedicated", "database", "NoSchedule")})),
    "ai": ({"leadgen.io/node-pool": "ai"}, frozenset({("nvidia.com/gpu", "present", "NoSchedule")})),
}
CONTRACT_SERVICE_ACCOUNTS = ("leadgen-external-secrets", "leadgen-postgres-backup")

TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
GKE_DRIVER_ARGUMENTS = {
    "pd.csi.storage.gke.io": "gce_pd_csi_driver",
    "filestore.csi.storage.gke.io": "filestore_csi_driver",
}
# Tolerations of taints Kubernetes itself manages (not-ready, unreachable, ...).
SYSTEM_TAINT_PREFIXES = ("node.kubernetes.io/", "node.cloudprovider.kubernetes.io/")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


# --- node pools from the Terraform ----------------------------------------------------------


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class NodePool:
    cloud: str
    name: str
    labels: dict[str, str]
    taints: frozenset[Taint]
    max_nodes: int


def _eks_module() -> Any:
    return load_module_dir(TF_ROOT / "aws" / "modules" / "eks-cluster")


def _gke_module() -> Any:
    return load_module_dir(TF_ROOT / "gcp" / "modules" / "gke-cluster")


def eks_node_pools(env: str = "prod") -> list[NodePool]:
    cluster = _eks_module()
    # The node groups really are built from the profiles (not a copy that could drift).
    assert cluster.modules["eks"][0].body["eks_managed_node_groups"] == "${local.eks_managed_node_groups}"
    builder = cluster.local("eks_managed_node_groups")
    assert "local.node_pool_profiles[pool].labels" in builder and "local.node_pool_profiles[pool].taints" in builder

    profiles: dict[str, Any] = cluster.local("node_pool_profiles")
    # The root's sizing reaches the cluster module unchanged through the platform module.
    platform = load_module_dir(TF_ROOT / "aws" / "modules" / "platform")
    assert platform.modules["cluster"][0].body["node_groups"] == "${var.node_groups}"
    sizing: dict[str, Any] = environment_settings("aws", env)["node_groups"]
    pools = []
    for name, size in sizing.items():
        profile = profiles[name]
        labels = {
            **profile["labels"],
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "eks.amazonaws.com/capacityType": size.get("capacity_type", "ON_DEMAND"),
        }
        taints = frozenset(Taint(t["key"], t["value"], TAINT_EFFECTS[t["effect"]]) for t in profile["taints"].values())
        pools.append(NodePool("eks", name, labels, taints, int(size["max_size"])))
    return pools


def gke_node_pools(env: str = "prod") -> list[NodePool]:
    cluster = _gke_module()
    gke = cluster.modules["gke"][0].body
    assert gke["node_pools"] == "${local.gke_node_pools}"
    assert gke["node_pools_labels"] == "${local.gke_node_pools_labels}"
    assert gke["node_pools_taints"] == "${local.gke_node_pools_taints}"
    assert "local.node_pool_profiles[pool].labels" in cluster.local("gke_node_pools_labels")
    assert "local.node_pool_profiles[pool].taints" in cluster.local("gke_node_pools_taints")

    profiles: dict[str, Any] = cluster.local("node_pool_profiles")
    platform = load_module_dir(TF_ROOT / "gcp" / "modules" / "platform")
    assert platform.modules["cluster"][0].body["node_pools"] == "${var.node_pools}"
    sizing: dict[str, Any] = environment_settings("gcp", env)["node_pools"]
    pools = []
    for name, size in sizing.items():
        profile = profiles[name]
        labels = {
            **profile["labels"],
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "cloud.google.com/gke-nodepool": name,
        }
        if int(size.get("accelerator_count", 0)) > 0:
            labels["cloud.google.com/gke-accelerator"] = size["accelerator_type"]
        if size.get("spot"):
            labels["cloud.google.com/gke-spot"] = "true"
        taints = frozenset(Taint(t["key"], t["value"], TAINT_EFFECTS[t["effect"]]) for t in profile["taints"])
        pools.append(NodePool("gke", name, labels, taints, int(size["max_count"])))
    return pools


NODE_POOLS = {"eks": eks_node_pools, "gke": gke_node_pools}


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_terraform_node_pools_follow_the_contract(flavour: str, env: str) -> None:
    pools = {p.name: p for p in NODE_POOLS[flavour](env)}
    assert set(pools) == set(CONTRACT_POOLS), f"{flavour}/{env} pools {sorted(pools)} != {sorted(CONTRACT_POOLS)}"
    for name, (labels, taints) in CONTRACT_POOLS.items():
        pool = pools[name]
        for key, value in labels.items():
            assert pool.labels.get(key) == value, (
                f"{flavour}/{env} pool {name}: label {key}={pool.labels.get(key)!r}, contract says {value!r}"
            )
        got = {(t.key, t.value, t.effect) for t in pool.taints}
        assert got == set(taints), f"{flavour}/{env} pool {name}: taints {sorted(got)}, contract says {sorted(taints)}"
        assert pool.max_nodes > 0, f"{flavour}/{env} pool {name} can never have a node"


# --- rendering the manifests ----------------------------------------------------------------


def _require_k8s_layer(flavour: str) -> None:
    needed = [PROD_OVERLAY / "kustomization.yaml"]
    if flavour == "gke":
        needed.append(GKE_COMPONENT / "kustomization.yaml")
    missing = [p for p in needed if not p.is_file()]
    if missing:
        pytest.fail(
            "the k8s/ layer this contract is checked against is not in the tree yet (missing "
            + ", ".join(str(p.relative_to(REPO_ROOT)) for p in missing)
            + "); it is written concurrently by the manifests work. This test fails until it exists."
        )


def _kubectl() -> str:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.fail("kubectl (with built-in kustomize) is needed to render k8s/overlays/prod")
    return binary


def _kustomize(directory: Path, *extra: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [_kubectl(), "kustomize", *extra, str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if isinstance(doc, dict)]


@functools.cache
def _render_cached(flavour: str, env: str) -> tuple[dict[str, Any], ...]:
    overlay = K8S_DIR / "overlays" / env
    if flavour == "eks":
        return tuple(_kustomize(overlay))
    with tempfile.TemporaryDirectory(prefix="leadgen-gke-render-") as tmp:
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            # kustomize refuses absolute paths here; relative ones with LoadRestrictionsNone work.
            "resources": [os.path.relpath(overlay, tmp)],
            "components": [os.path.relpath(GKE_COMPONENT, tmp)],
        }
        (Path(tmp) / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
        return tuple(_kustomize(Path(tmp), "--load-restrictor", "LoadRestrictionsNone"))


def render(flavour: str, env: str = "prod") -> list[dict[str, Any]]:
    _require_k8s_layer(flavour)
    return list(_render_cached(flavour, env))


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        kind = obj.get("kind")
        if kind not in WORKLOAD_KINDS:
            continue
        name = f"{kind}/{obj.get('metadata', {}).get('namespace', '')}/{obj.get('metadata', {}).get('name')}"
        spec = obj.get("spec") or {}
        if kind == "Pod":
            yield name, spec
        elif kind == "CronJob":
            yield name, spec["jobTemplate"]["spec"]["template"]["spec"]
        else:
            yield name, spec["template"]["spec"]


# --- scheduling semantics -------------------------------------------------------------------


def _expression_matches(expr: dict[str, Any], labels: dict[str, str]) -> bool:
    key, operator, values = expr["key"], expr["operator"], [str(v) for v in expr.get("values") or []]
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in {"Gt", "Lt"}:
        if not present:
            return False
        number, bound = int(labels[key]), int(values[0])
        return number > bound if operator == "Gt" else number < bound
    raise AssertionError(f"unknown node selector operator {operator}")


def _term_matches(term: dict[str, Any], labels: dict[str, str]) -> bool:
    if term.get("matchFields"):
        return False  # metadata.name pinning cannot be satisfied by a node group
    return all(_expression_matches(e, labels) for e in term.get("matchExpressions") or [])


def _selectors_match(spec: dict[str, Any], pool: NodePool) -> bool:
    if any(pool.labels.get(k) != str(v) for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (
        (spec.get("affinity") or {}).get("nodeAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    )
    if not required:
        return True
    return any(_term_matches(term, pool.labels) for term in required.get("nodeSelectorTerms") or [])


def _tolerates(toleration: dict[str, Any], taint: Taint) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.effect:
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if not key:
        return operator == "Exists"
    if key != taint.key:
        return False
    return operator == "Exists" or str(toleration.get("value", "")) == taint.value


def _pool_accepts(spec: dict[str, Any], pool: NodePool) -> bool:
    tolerations = spec.get("tolerations") or []
    blocking = [t for t in pool.taints if t.effect in {"NoSchedule", "NoExecute"}]
    return _selectors_match(spec, pool) and all(any(_tolerates(tol, t) for tol in tolerations) for t in blocking)


def _dead_tolerations(spec: dict[str, Any], pools: list[NodePool]) -> list[dict[str, Any]]:
    """Tolerations that match no taint of any pool: a sign that the taint moved or vanished."""
    dead = []
    for toleration in spec.get("tolerations") or []:
        key = toleration.get("key") or ""
        if not key or key.startswith(SYSTEM_TAINT_PREFIXES):
            continue
        if not any(_tolerates(toleration, taint) for pool in pools for taint in pool.taints):
            dead.append(toleration)
    return dead


def _uses_contract_scheduling(spec: dict[str, Any]) -> bool:
    text = repr({k: spec.get(k) for k in ("nodeSelector", "affinity", "tolerations")})
    return "leadgen.io/" in text or "nvidia.com/gpu" in text or "CriticalAddonsOnly" in text


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_prod_workloads_can_be_scheduled_on_the_terraform_node_pools(flavour: str) -> None:
    objects = render(flavour)
    pools = NODE_POOLS[flavour]("prod")
    specs = list(pod_specs(objects))
    assert specs, f"the {flavour} render of the prod overlay contains no workloads"
    assert any(_uses_contract_scheduling(s) for _, s in specs), "no workload refers to the node pool contract"

    problems = []
    for name, spec in specs:
        accepting = [p.name for p in pools if _pool_accepts(spec, p)]
        if not accepting:
            problems.append(
                f"{name}: no {flavour} node pool satisfies nodeSelector={spec.get('nodeSelector')} "
                f"affinity={(spec.get('affinity') or {}).get('nodeAffinity')} tolerations={spec.get('tolerations')}"
            )
        for toleration in _dead_tolerations(spec, pools):
            problems.append(f"{name}: toleration {toleration} matches no taint of any {flavour} node pool")
    assert not problems, "\n".join(problems)


# --- storage --------------------------------------------------------------------------------


def _storage_classes(flavour: str) -> list[dict[str, Any]]:
    directory = STORAGE_CLASS_DIRS[flavour]
    if not directory.is_dir():
        pytest.fail(f"{directory.relative_to(REPO_ROOT)} does not exist (the k8s/ layer is not complete yet)")
    classes = []
    for file in sorted(directory.rglob("*.y*ml")):
        for doc in yaml.safe_load_all(file.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "StorageClass":
                classes.append(doc)
    assert classes, f"no StorageClass under {directory.relative_to(REPO_ROOT)}"
    return classes


def _terraform_provisioners(flavour: str) -> set[str]:
    if flavour == "eks":
        addons = load_module_dir(TF_ROOT / "aws" / "modules" / "cluster-addons")
        assert addons.resources["aws_eks_addon.storage"][0].body["for_each"] == "${local.storage_addons}"
        return {a["provisioner"] for a in addons.local("storage_addons").values()}
    gke = _gke_module().modules["gke"][0].body
    return {prov for prov, argument in GKE_DRIVER_ARGUMENTS.items() if gke.get(argument) is True}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_storage_class_provisioners_are_installed_by_terraform(flavour: str) -> None:
    installed = _terraform_provisioners(flavour)
    missing = {
        f"{sc['metadata']['name']} ({sc['provisioner']})"
        for sc in _storage_classes(flavour)
        if sc["provisioner"] not in installed
    }
    assert not missing, f"{flavour}: StorageClasses whose provisioner Terraform does not install: {sorted(missing)}"


def _claimed_storage_classes(objects: list[dict[str, Any]]) -> set[str]:
    names = set()
    for obj in objects:
        if obj.get("kind") == "PersistentVolumeClaim":
            names.add((obj.get("spec") or {}).get("storageClassName"))
        if obj.get("kind") == "StatefulSet":
            for claim in (obj.get("spec") or {}).get("volumeClaimTemplates") or []:
                names.add((claim.get("spec") or {}).get("storageClassName"))
    return {n for n in names if n}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_storage_classes_claimed_by_prod_exist_for_the_cloud(flavour: str) -> None:
    claimed = _claimed_storage_classes(render(flavour))
    available = {sc["metadata"]["name"] for sc in _storage_classes(flavour)}
    assert claimed <= available, (
        f"{flavour}: claimed StorageClasses without a definition: {sorted(claimed - available)}"
    )


def test_efs_storage_class_can_get_its_file_system_id() -> None:
    efs = [sc for sc in _storage_classes("eks") if sc["provisioner"] == "efs.csi.aws.com"]
    if efs:
        outputs = load_module_dir(TF_ROOT / "aws" / "environments" / "prod").outputs
        assert "efs_file_system_id" in outputs, "the efs StorageClass needs the file system id Terraform creates"


# --- cloud identity -------------------------------------------------------------------------

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>[^:]+):role/(?P<role>[\w+=,.@-]+)$")
GSA_EMAIL = re.compile(r"^(?P<account_id>[a-z][a-z0-9-]{4,28}[a-z0-9])@(?P<project>[^.]+)\.iam\.gserviceaccount\.com$")
ANNOTATIONS = {"eks": "eks.amazonaws.com/role-arn", "gke": "iam.gke.io/gcp-service-account"}


@dataclass(frozen=True)
class CloudIdentity:
    """A cloud identity Terraform creates for one Kubernetes ServiceAccount."""

    namespace: str
    service_account: str
    identity: str  # IAM role name or GSA account id
    bound_subject: str  # IRSA :sub value / Workload Identity member


def terraform_identities(flavour: str) -> list[CloudIdentity]:
    found = []
    if flavour == "eks":
        mod = load_module_dir(TF_ROOT / "aws" / "modules" / "app-identity")
        role = mod.resources["aws_iam_role.workload"][0].body
        trust = mod.data["aws_iam_policy_document.irsa_trust"][0].body
        assert role["for_each"] == trust["for_each"] == "${local.identities}"
        assert role["assume_role_policy"] == "${data.aws_iam_policy_document.irsa_trust[each.key].json}"
        conditions = [c for s in trust["statement"] for c in s.get("condition", [])]
        subject_templates = [v for c in conditions if str(c["variable"]).endswith(":sub") for v in c["values"]]
        assert len(subject_templates) == 1, "the IRSA trust must pin exactly one ServiceAccount subject"
        name_template, bound_template = role["name"], subject_templates[0]
    else:
        mod = load_module_dir(TF_ROOT / "gcp" / "modules" / "workload-identity")
        gsa = mod.resources["google_service_account.workload"][0].body
        binding = mod.resources["google_service_account_iam_member.workload_identity"][0].body
        assert gsa["for_each"] == binding["for_each"] == "${local.identities}"
        assert binding["role"] == "roles/iam.workloadIdentityUser"
        assert binding["service_account_id"] == "${google_service_account.workload[each.key].name}"
        name_template, bound_template = gsa["account_id"], binding["member"]

    locals_ = flat_locals(mod)
    for env in ENVIRONMENTS:
        variables = {"environment": env, "project_id": "<project>"}
        for key, value in locals_["identities"].items():
            try:
                found.append(
                    CloudIdentity(
                        namespace=render_template(locals_["namespace"], variables=variables, locals_=locals_),
                        service_account=value["service_account"],
                        identity=render_template(
                            name_template, variables=variables, locals_=locals_, each_key=key, each_value=value
                        ),
                        bound_subject=render_template(
                            bound_template, variables=variables, locals_=locals_, each_key=key, each_value=value
                        ),
                    )
                )
            except TemplateError as error:
                pytest.fail(f"cannot evaluate the {flavour} identity names: {error}")
    return found


def _expected_subject(flavour: str, namespace: str, service_account: str) -> str:
    if flavour == "eks":
        return f"system:serviceaccount:{namespace}:{service_account}"
    return f"serviceAccount:<project>.svc.id.goog[{namespace}/{service_account}]"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_terraform_creates_the_contract_identities(flavour: str) -> None:
    identities = terraform_identities(flavour)
    for env in ENVIRONMENTS:
        for sa in CONTRACT_SERVICE_ACCOUNTS:
            matches = [i for i in identities if i.namespace == f"leadgen-{env}" and i.service_account == sa]
            assert len(matches) == 1, f"{flavour}: no Terraform identity for leadgen-{env}/{sa}"
            identity = matches[0]
            assert identity.bound_subject == _expected_subject(flavour, identity.namespace, sa)
            if flavour == "eks":
                assert identity.identity == f"leadgen-{env}-{sa.removeprefix('leadgen-')}"
            else:
                assert len(identity.identity) <= 30, f"GSA id {identity.identity} is longer than 30 characters"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_service_account_annotations_match_terraform_identities(flavour: str) -> None:
    objects = render(flavour)
    identities = terraform_identities(flavour)
    annotation = ANNOTATIONS[flavour]
    service_accounts = [o for o in objects if o.get("kind") == "ServiceAccount"]
    problems = []
    annotated = 0
    for sa in service_accounts:
        meta = sa.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        value = (meta.get("annotations") or {}).get(annotation)
        other = ANNOTATIONS["gke" if flavour == "eks" else "eks"]
        if (meta.get("annotations") or {}).get(other):
            problems.append(f"{namespace}/{name}: the {flavour} render carries the other cloud's {other}")
        if name in CONTRACT_SERVICE_ACCOUNTS and not value:
            problems.append(f"{namespace}/{name}: missing {annotation}")
        if not value:
            continue
        annotated += 1
        pattern = ROLE_ARN if flavour == "eks" else GSA_EMAIL
        match = pattern.match(str(value))
        if not match:
            problems.append(f"{namespace}/{name}: {annotation}={value!r} is not a valid value")
            continue
        wanted = match.group("role") if flavour == "eks" else match.group("account_id")
        candidates = [i for i in identities if i.identity == wanted]
        if not candidates:
            problems.append(f"{namespace}/{name}: {annotation} names {wanted!r}, which Terraform does not create")
            continue
        if not any(i.namespace == namespace and i.service_account == name for i in candidates):
            bound = ", ".join(f"{i.namespace}/{i.service_account}" for i in candidates)
            problems.append(
                f"{namespace}/{name}: {wanted} is bound to {bound} in Terraform, not to this ServiceAccount"
            )
    assert annotated, f"no ServiceAccount in the {flavour} render carries {annotation}"
    assert not problems, "\n".join(problems)


# --- custom resources -----------------------------------------------------------------------

# API groups of custom resources, and the Terraform add-on (Helm release key or GKE feature)
# that installs their CRDs.
CRD_PROVIDERS: dict[str, dict[str, str]] = {
    "gateway.networking.k8s.io": {"eks": "helm:gateway_api_crds", "gke": "gke:gateway_api_channel"},
    "gateway.envoyproxy.io": {"eks": "helm:gateway_crds", "gke": "helm:gateway_crds"},
    "external-secrets.io": {"eks": "helm:external-secrets", "gke": "helm:external-secrets"},
    "cert-manager.io": {"eks": "helm:cert-manager", "gke": "helm:cert-manager"},
    "acme.cert-manager.io": {"eks": "helm:cert-manager", "gke": "helm:cert-manager"},
    "monitoring.coreos.com": {"eks": "helm:kube-prometheus-stack", "gke": "helm:kube-prometheus-stack"},
    "postgresql.cnpg.io": {"eks": "helm:cloudnative-pg", "gke": "helm:cloudnative-pg"},
    "barmancloud.cnpg.io": {"eks": "helm:plugin-barman-cloud", "gke": "helm:plugin-barman-cloud"},
    "networking.gke.io": {"gke": "gke:http_load_balancing"},
    "cloud.google.com": {"gke": "gke:http_load_balancing"},
}
BUILT_IN_GROUPS = frozenset(
    {
        "", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io",
        "storage.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "admissionregistration.k8s.io",
        "apiextensions.k8s.io", "discovery.k8s.io", "node.k8s.io", "certificates.k8s.io",
    }
)  # fmt: skip


def _helm_releases(mod: Any) -> set[str]:
    """Helm releases a module directory declares: a release per plain helm_release (by resource
    name), and per key of a for_each written inline or as a ``local.X`` map."""
    installed = set()
    for resource, decls in mod.resources.items():
        if not resource.startswith("helm_release."):
            continue
        for_each = decls[0].body.get("for_each")
        if for_each is None:
            installed.add(f"helm:{resource.removeprefix('helm_release.')}")
        elif isinstance(for_each, dict):
            installed |= {f"helm:{name}" for name in for_each}
        else:
            local_map = re.fullmatch(r"\$\{local\.(\w+)\}", str(for_each))
            assert local_map, f"{mod.path}: {resource} iterates over {for_each}, which this test cannot read"
            installed |= {f"helm:{name}" for name in mod.local(local_map.group(1))}
    return installed


def _installed_addons(flavour: str) -> set[str]:
    directory = TF_ROOT / ("aws" if flavour == "eks" else "gcp") / "modules" / "cluster-addons"
    addons = load_module_dir(directory)
    installed = _helm_releases(addons)
    # Releases of the local modules it calls (modules/platform-addons: what both clouds share).
    for decls in addons.modules.values():
        call = decls[0].body
        if not is_local_source(call["source"]):
            continue
        called = load_module_dir((directory / call["source"]).resolve())
        installed |= _helm_releases(called)
        if "helm_release.gateway_crds" in called.resources:
            crds = called.resources["helm_release.gateway_crds"][0].body
            # The Gateway API CRDs come with Envoy Gateway's only where the caller asks for them.
            follows_flag = "gatewayAPI = {enabled = var.gateway_api_crds" in str(crds["values"])
            assert follows_flag, "gateway_crds no longer follows its flag"
            if call.get("gateway_api_crds") is True:
                installed.add("helm:gateway_api_crds")
    if flavour == "gke":
        gke = _gke_module().modules["gke"][0].body
        if gke.get("gateway_api_channel") == "CHANNEL_STANDARD":
            installed.add("gke:gateway_api_channel")
        if gke.get("http_load_balancing") is True:
            installed.add("gke:http_load_balancing")
    return installed


# The kube-prometheus-stack chart's Prometheus selects only objects of its own Helm release unless
# told otherwise; ours are applied by deploy, so each kind k8s/ ships needs its selector opened.
PROMETHEUS_SELECTORS = {
    "ServiceMonitor": "serviceMonitorSelectorNilUsesHelmValues",
    "PodMonitor": "podMonitorSelectorNilUsesHelmValues",
    "PrometheusRule": "ruleSelectorNilUsesHelmValues",
}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_prometheus_terraform_installs_selects_the_monitoring_objects_k8s_ships(flavour: str) -> None:
    shipped = {str(obj.get("kind")) for obj in render(flavour)} & PROMETHEUS_SELECTORS.keys()
    assert "PrometheusRule" in shipped, "the overlay no longer ships its alerts"
    addons = load_module_dir(TF_ROOT / "modules" / "platform-addons")
    values = str(addons.local("helm_releases")["kube-prometheus-stack"]["values"])
    closed = [kind for kind in sorted(shipped) if f"{PROMETHEUS_SELECTORS[kind]} = false" not in values]
    assert not closed, f"Prometheus would not select the {', '.join(closed)} objects of k8s/"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_custom_resources_in_the_render_have_their_crds_installed_by_terraform(flavour: str) -> None:
    installed = _installed_addons(flavour)
    problems = set()
    for obj in render(flavour):
        api_version = str(obj.get("apiVersion", ""))
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        if group in BUILT_IN_GROUPS:
            continue
        provider = CRD_PROVIDERS.get(group, {}).get(flavour)
        if provider is None:
            problems.add(f"{obj.get('kind')} ({api_version}): no known add-on provides this API group on {flavour}")
        elif provider not in installed:
            problems.add(
                f"{obj.get('kind')} ({api_version}): its CRDs come from {provider}, which Terraform does not install"
            )
    assert not problems, "\n".join(sorted(problems))


# --- what the Terraform creates for the manifests, and nothing more ----------------------------


def _managed_datastore_secret_ids(env: str) -> set[str]:
    """Secret Manager ids of the credentials managed-data writes: the only way an overlay can reach
    Cloud SQL or Memorystore (the app has no other credentials for them)."""
    mod = load_module_dir(TF_ROOT / "gcp" / "modules" / "managed-data")
    secret = mod.resources["google_secret_manager_secret.managed"][0].body
    keys = re.findall(r'"([^"]+)"', str(secret["for_each"]))
    assert keys, f"cannot read the secrets managed-data creates from {secret['for_each']}"
    variables = {"environment": env}
    return {
        render_template(secret["secret_id"], variables=variables, locals_=flat_locals(mod), each_key=key)
        for key in keys
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_gke_environments_create_managed_datastores_only_for_manifests_that_use_them(env: str) -> None:
    """Cloud SQL and Memorystore cost money whether or not anything connects to them."""
    external_secrets = [o for o in render("gke", env) if o.get("kind") == "ExternalSecret"]
    read = {value for secret in external_secrets for value in strings_in(secret.get("spec"))}
    used = bool(_managed_datastore_secret_ids(env) & read)
    created = environment_settings("gcp", env)["managed_datastores"] is not None
    assert created == used, (
        f"gcp/environments/{env} {'creates' if created else 'does not create'} Cloud SQL and Memorystore, "
        f"but the {env} manifests on GKE {'read' if used else 'never read'} their credentials"
    )


def _acme_solvers(env: str) -> list[dict[str, Any]]:
    issuers = [o for o in render("eks", env) if o.get("kind") in ("Issuer", "ClusterIssuer")]
    return [solver for issuer in issuers for solver in issuer["spec"].get("acme", {}).get("solvers", [])]


def _cloud_identity_namespaces() -> dict[str, set[str]]:
    """Namespaces of the add-on controllers each cloud's Terraform gives cloud permissions."""
    aws = load_module_dir(TF_ROOT / "aws" / "modules" / "cluster-addons").local("pod_identities")
    gcp = load_module_dir(TF_ROOT / "gcp" / "modules" / "cluster-addons").local("addon_identities")
    return {
        "eks": {identity["namespace"] for identity in aws.values()},
        "gke": {identity["namespace"] for identity in gcp.values()},
    }


def test_cert_manager_gets_cloud_dns_permissions_only_for_dns01() -> None:
    """cert-manager needs a cloud identity only to write DNS-01 challenge records."""
    dns01 = any("dns01" in solver for env in ENVIRONMENTS for solver in _acme_solvers(env))
    wrong = [
        f"{flavour}: cert-manager {'has' if granted else 'lacks'} a cloud identity"
        for flavour, namespaces in _cloud_identity_namespaces().items()
        if (granted := "cert-manager" in namespaces) != dns01
    ]
    challenges = "an Issuer solves" if dns01 else "no Issuer solves"
    assert not wrong, f"{challenges} DNS-01 challenges, but " + "; ".join(wrong)


def test_gke_reserves_no_edge_address_the_manifests_cannot_use() -> None:
    """A global external address attaches only to a global load balancer: a GKE Gateway (class
    gke-l7-global-*) that names it in spec.addresses. Envoy's proxies sit behind a regional
    passthrough load balancer, which takes its own address, so such a reservation only costs."""
    reserved = [
        f"{directory.name}: {name}"
        for directory in sorted((TF_ROOT / "gcp" / "modules").iterdir())
        for name, decls in load_module_dir(directory).resources.items()
        if name.startswith("google_compute_global_address.") and decls[0].body.get("purpose") != "VPC_PEERING"
    ]
    named = [
        address
        for gateway in render("gke")
        if gateway.get("kind") == "Gateway" and str(gateway["spec"]["gatewayClassName"]).startswith("gke-l7-global")
        for address in gateway["spec"].get("addresses") or []
        if address.get("type") == "NamedAddress"
    ]
    assert named or not reserved, f"no Gateway of the GKE manifests can use the reserved address {reserved}"


# --- DNS ---------------------------------------------------------------------------------------

# External DNS source that publishes each kind of object carrying the edge's host names.
EXTERNAL_DNS_SOURCES = {"HTTPRoute": "gateway-httproute", "Ingress": "ingress"}
EDGES = (K8S_DIR / "overlays" / "staging", K8S_DIR / "variants" / "staging-ingress")


@pytest.mark.parametrize("edge", EDGES, ids=lambda path: path.name)
def test_external_dns_publishes_the_host_names_of_every_edge(edge: Path) -> None:
    addons = load_module_dir(TF_ROOT / "modules" / "platform-addons")
    sources = re.findall(r"sources\s*=\s*\[([^\]]*)\]", str(addons.local("helm_releases")["external-dns"]["values"]))
    assert len(sources) == 1, "cannot read External DNS's sources"
    watched = set(re.findall(r'"([^"]+)"', sources[0]))
    kinds = {str(o.get("kind")) for o in _kustomize(edge)} & EXTERNAL_DNS_SOURCES.keys()
    assert kinds, f"{edge.name} publishes its host names with no kind this test knows"
    unwatched = sorted(kind for kind in kinds if EXTERNAL_DNS_SOURCES[kind] not in watched)
    assert not unwatched, f"{edge.name}: External DNS ({sorted(watched)}) creates no record for its {unwatched}"


def test_gke_dns_policy_admits_the_node_local_cache_the_terraform_enables() -> None:
    """With NodeLocal DNSCache on Dataplane V2, a query to the kube-dns Service is redirected to the
    node-local-dns pod of the node and the policy is enforced against that pod."""
    cluster = _gke_module().modules["gke"][0].body
    assert cluster["datapath_provider"] == "ADVANCED_DATAPATH", "revisit: the policies follow Dataplane V2"
    policies = {o["metadata"]["name"]: o for o in render("gke") if o.get("kind") == "NetworkPolicy"}
    egress = policies["allow-dns"]["spec"]["egress"]
    peers = [peer.get("podSelector", {}).get("matchLabels") for rule in egress for peer in rule["to"]]
    admits_cache = {"k8s-app": "node-local-dns"} in peers
    assert admits_cache == bool(cluster.get("dns_cache")), (
        f"the GKE Terraform {'enables' if cluster.get('dns_cache') else 'does not enable'} NodeLocal DNSCache, "
        f"but allow-dns {'admits' if admits_cache else 'does not admit'} its pods"
    )


# --- the metrics API of the HorizontalPodAutoscalers ------------------------------------------


def _hcl_object(expression: str) -> Any:
    """The value of ``jsonencode({...})`` as Python data (python-hcl2 keeps it as text)."""
    inner = expression.removeprefix("${jsonencode(").removesuffix(")}")
    return clean(hcl2.loads(f"value = {inner}"))["value"]


def _eks_metrics_server_spec() -> dict[str, Any] | None:
    """Where the EKS add-on metrics-server runs (its configuration values), or None if the
    Terraform does not install it."""
    cluster = _eks_module()
    addon = cluster.modules["eks"][0].body["addons"].get("metrics-server")
    if addon is None:
        return None
    values = str(addon.get("configuration_values", "{}"))
    local_ref = re.fullmatch(r"\$\{local\.(\w+)\}", values)
    spec: dict[str, Any] = _hcl_object(cluster.local(local_ref.group(1)) if local_ref else values)
    return spec


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_cloud_serves_the_resource_metrics_the_hpas_scale_on(flavour: str, env: str) -> None:
    """An HPA on CPU or memory utilisation reads the metrics API (metrics.k8s.io); without it the
    HPA never scales. GKE serves it in every cluster; EKS only with the metrics-server add-on."""
    hpas = [o for o in render(flavour, env) if o.get("kind") == "HorizontalPodAutoscaler"]
    resource_metrics = [
        metric for hpa in hpas for metric in hpa["spec"].get("metrics") or [] if metric["type"] == "Resource"
    ]
    assert resource_metrics, f"the {env} HPAs no longer scale on resource metrics; revisit this test"
    if flavour == "gke":
        return
    spec = _eks_metrics_server_spec()
    assert spec is not None, "EKS has no metrics-server add-on: no HPA of k8s/ would ever scale"
    system = next(pool for pool in eks_node_pools(env) if pool.name == "system")
    assert _pool_accepts(spec, system), f"metrics-server cannot run on the system pool: {spec}"
    assert spec.get("nodeSelector") == CONTRACT_POOLS["system"][0], "metrics-server belongs on the system pool"


# --- the edge ---------------------------------------------------------------------------------

AWS_LOAD_BALANCER_ANNOTATIONS = "service.beta.kubernetes.io/aws-load-balancer-"
# What makes the AWS Load Balancer Controller (installed by cluster-addons) give the proxies'
# Service a public NLB: without a scheme it makes an internal one.
EKS_PUBLIC_NLB = {
    "service.beta.kubernetes.io/aws-load-balancer-type": "external",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
}
TARGET_GROUP_ATTRIBUTES = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"


def _proxy_service(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """envoyService of the EnvoyProxy the Gateway names in spec.infrastructure.parametersRef."""
    gateways = [o for o in objects if o.get("kind") == "Gateway"]
    assert len(gateways) == 1, f"expected one Gateway, found {len(gateways)}"
    gateway = gateways[0]
    ref = (gateway["spec"].get("infrastructure") or {}).get("parametersRef") or {}
    assert (ref.get("group"), ref.get("kind")) == ("gateway.envoyproxy.io", "EnvoyProxy"), (
        "the Gateway names no EnvoyProxy, so Envoy Gateway's default Service applies (on EKS: an internal NLB)"
    )
    proxies = [
        o
        for o in objects
        if o.get("kind") == "EnvoyProxy"
        and o["metadata"]["name"] == ref["name"]
        and o["metadata"].get("namespace") == gateway["metadata"].get("namespace")
    ]
    assert len(proxies) == 1, f"EnvoyProxy {ref['name']} is not rendered beside the Gateway"
    service: dict[str, Any] = proxies[0]["spec"]["provider"]["kubernetes"]["envoyService"]
    return service


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_eks_edge_is_a_public_nlb_that_keeps_the_client_address(env: str) -> None:
    """The app believes X-Forwarded-For entries from private addresses only and Envoy appends the
    address a connection comes from: behind an NLB that replaced it with its own (private) one,
    every client-written entry would be believed. IP targets with preserve_client_ip keep it."""
    assert "helm:aws-load-balancer-controller" in _installed_addons("eks"), "nothing provisions the NLB"
    annotations = _proxy_service(render("eks", env)).get("annotations") or {}
    wrong = {key: annotations.get(key) for key, value in EKS_PUBLIC_NLB.items() if annotations.get(key) != value}
    assert not wrong, f"{env}: the proxies' Service would not get a public NLB: {wrong}"
    attributes = dict(item.split("=", 1) for item in annotations.get(TARGET_GROUP_ATTRIBUTES, "").split(",") if item)
    assert attributes.get("preserve_client_ip.enabled") == "true", f"{env}: the NLB hides the client's address"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_gke_edge_is_the_passthrough_load_balancer_that_keeps_the_client_address(env: str) -> None:
    service = _proxy_service(render("gke", env))
    aws = sorted(key for key in service.get("annotations") or {} if key.startswith(AWS_LOAD_BALANCER_ANNOTATIONS))
    assert not aws, f"{env}: the GKE render carries AWS load balancer annotations {aws}"
    # A passthrough NLB keeps the source address only if no second node hop NATs it.
    assert service.get("externalTrafficPolicy") == "Local"
