"""Deploy's structural checks of a rendered overlay (``leadgen.ops.rules.manifests``)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from leadgen.ops import contract
from leadgen.ops.contract import Environment
from leadgen.ops.deploy import BOOTSTRAP_KINDS
from leadgen.ops.kubectl import Kubectl
from leadgen.ops.rules.manifests import PLACEHOLDERS, ValidationReport, validate_rendered
from leadgen.ops.rules.plan import migration_timeout
from tests.conftest import IN_CI
from tests.k8s.render import DASHBOARDS, DEPLOYABLE, render

from . import objects
from .conftest import FakeKube, Run, payload


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def container(docs: list[dict[str, Any]], kind: str = "Deployment", name: str = "api") -> dict[str, Any]:
    found: dict[str, Any] = find(docs, kind, name)["spec"]["template"]["spec"]["containers"][0]
    return found


def messages(docs: list[dict[str, Any]], env: Environment = Environment.DEV) -> list[str]:
    report = validate_rendered(objects.rendered(env, docs), env)
    return [f"{f.severity}: {f.resource} {f.message}" for f in report.findings]


class TestValidRenders:
    @pytest.mark.parametrize("env", list(Environment))
    def test_every_environment_passes(self, env: Environment) -> None:
        report = validate_rendered(objects.rendered(env), env)
        assert report.ok, report.errors
        assert report.warnings == ()
        assert len(report.resources) == len(objects.rendered_docs(env))


class TestErrors:
    def test_missing_probes_and_resources(self) -> None:
        docs = objects.rendered_docs(Environment.DEV)
        c = container(docs)
        del c["readinessProbe"], c["livenessProbe"], c["startupProbe"]
        del c["resources"]["requests"]["cpu"], c["resources"]["limits"]
        got = messages(docs)
        assert "error: Deployment/api container api has no readinessProbe" in got
        assert "error: Deployment/api container api has no livenessProbe" in got
        assert "warning: Deployment/api container api has no startupProbe" in got
        assert "error: Deployment/api container api has no resources requests.cpu, limits.memory" in got

    def test_statefulsets_and_jobs_need_resources_but_not_probes(self) -> None:
        docs = objects.rendered_docs(Environment.DEV)
        del container(docs, "Job", "db-migrate")["resources"]
        assert messages(docs) == [
            "error: Job/db-migrate container migrate has no resources requests.cpu, requests.memory, limits.memory"
        ]

    @pytest.mark.parametrize(
        ("image", "problem"),
        [
            ("ghcr.io/leadgen/leadgen:latest", "is not pinned (no tag or :latest)"),
            ("ghcr.io/leadgen/leadgen", "is not pinned (no tag or :latest)"),
            ("registry.local:5000/leadgen", "is not pinned (no tag or :latest)"),
        ],
    )
    def test_unpinned_images(self, image: str, problem: str) -> None:
        docs = objects.rendered_docs(Environment.DEV)
        container(docs)["image"] = image
        assert messages(docs) == [f"error: Deployment/api container api image {image} {problem}"]

    def test_registry_port_is_not_a_tag(self) -> None:
        docs = objects.rendered_docs(Environment.DEV)
        container(docs)["image"] = "registry.local:5000/leadgen:1.5.0"
        assert messages(docs) == []

    def test_prod_needs_digests_everywhere(self) -> None:
        docs = objects.rendered_docs(Environment.PROD)
        container(docs, "StatefulSet", "redis")["image"] = "docker.io/library/redis:7.4.2"
        assert messages(docs, Environment.PROD) == [
            "error: StatefulSet/redis container redis image docker.io/library/redis:7.4.2 is not "
            "pinned by digest (@sha256:...) in prod"
        ]

    def test_digest_only_image_is_pinned(self) -> None:
        docs = objects.rendered_docs(Environment.PROD)
        container(docs)["image"] = f"ghcr.io/leadgen/leadgen@{objects.DIGEST}"
        assert messages(docs, Environment.PROD) == []

    def test_unknown_and_retired_kinds(self) -> None:
        docs = objects.rendered_docs(Environment.DEV)
        find(docs, "HorizontalPodAutoscaler", "api")["apiVersion"] = "autoscaling/v2beta2"
        docs.append(
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "leadgen-dev"}}
        )
        assert messages(docs) == [
            "error: HorizontalPodAutoscaler/api unknown kind autoscaling/v2beta2/HorizontalPodAutoscaler; "
            "expected apiVersion autoscaling/v2",
            "error: Widget/w unknown kind example.com/v1/Widget",
        ]

    def test_namespaces(self) -> None:
        docs = objects.rendered_docs(Environment.STAGING)
        del find(docs, "ConfigMap", "leadgen-config")["metadata"]["namespace"]
        find(docs, "Service", "api")["metadata"]["namespace"] = "default"
        docs = [d for d in docs if d["kind"] != "Namespace"]
        assert messages(docs, Environment.STAGING) == [
            "error: ConfigMap/leadgen-config has no namespace; the overlay must set leadgen-staging",
            "error: Service/api is in namespace default, expected leadgen-staging",
            "warning: Namespace/leadgen-staging is not in the render; it must exist before deploy",
        ]

    def test_required_workloads(self) -> None:
        removed = {("Deployment", "worker"), ("Cluster", "postgres"), ("Job", "db-migrate")}
        docs = [d for d in objects.rendered_docs(Environment.PROD) if (d["kind"], d["metadata"]["name"]) not in removed]
        assert messages(docs, Environment.PROD) == [
            "error: Deployment/worker is missing from the render",
            "error: Job/db-migrate is missing from the render",
            "error: Cluster/postgres is missing from the render",
        ]

    def test_duplicates(self) -> None:
        docs = objects.rendered_docs(Environment.DEV)
        docs.append(objects.clone(find(docs, "Service", "api")))
        assert messages(docs) == ["error: Service/api appears twice in the render"]

    def test_broken_documents(self) -> None:
        text = objects.rendered(Environment.DEV) + "---\n- just\n- a list\n---\nkind: Service\n"
        report = validate_rendered(text, Environment.DEV)
        assert [f.message for f in report.errors] == [
            "is not a mapping",
            "needs apiVersion, kind and metadata.name",
        ]

    def test_not_yaml(self) -> None:
        report = validate_rendered("kind: [unclosed\n", Environment.DEV)
        assert not report.ok and report.errors[0].message.startswith("not valid YAML")


class TestPlaceholders:
    """Staging and prod refuse what the repository commits in place of an installation's values."""

    PLACED: dict[str, tuple[str, str]] = {
        # case: (a value as a render holds it, the placeholder it is)
        "aws-account": ("arn:aws:iam::000000000000:role/leadgen-prod-external-secrets", "000000000000"),
        "gcp-project": ("leadgen-prod-external-secrets@leadgen-prod-000000.iam.gserviceaccount.com", "GCP project"),
        "efs": ("fs-00000000000000000", "EFS"),
        "domain": ("https://app.leadgen.example.com", "example.com"),
        "smtp-sender": ("leads@example.org", "example.com"),
        "allow-list": ("203.0.113.0/24", "documentation address range"),
    }
    REAL = [
        "arn:aws:iam::123456789012:role/leadgen-prod-external-secrets",
        "leadgen-prod-external-secrets@leadgen-prod-481516.iam.gserviceaccount.com",
        "s3://leadgen-prod-postgres-backups-123456789012",
        "fs-0123456789abcdef0",
        "https://app.leads.example-insurance.com",
        "smtp.notexample.com",
        "100.64.0.0/10",
    ]

    @staticmethod
    def holding(env: Environment, value: str) -> list[dict[str, Any]]:
        docs = objects.rendered_docs(env)
        find(docs, "ConfigMap", "leadgen-config")["data"]["LEADGEN_SOME_SETTING"] = value
        return docs

    @pytest.mark.parametrize("case", PLACED)
    @pytest.mark.parametrize("env", [Environment.STAGING, Environment.PROD])
    def test_staging_and_prod_refuse_a_placeholder(self, env: Environment, case: str) -> None:
        value, meaning = self.PLACED[case]
        got = messages(self.holding(env, value), env)
        assert len(got) == 1 and got[0].startswith(f"error: ConfigMap/leadgen-config holds {value!r}: "), got
        assert meaning in got[0], got

    @pytest.mark.parametrize("case", PLACED)
    def test_dev_runs_with_them(self, case: str) -> None:
        assert messages(self.holding(Environment.DEV, self.PLACED[case][0])) == []

    @pytest.mark.parametrize("value", REAL)
    def test_real_values_pass(self, value: str) -> None:
        assert messages(self.holding(Environment.PROD, value), Environment.PROD) == []

    def test_one_error_per_object_and_placeholder(self) -> None:
        docs = objects.rendered_docs(Environment.STAGING)
        find(docs, "ConfigMap", "leadgen-config")["data"] |= {
            "LEADGEN_SMTP_HOST": "smtp.example.com",
            "LEADGEN_SMTP_SENDER": "leads@example.com",
            "LEADGEN_SERVICES_DASHBOARD_URL": "https://app.staging.leadgen.example.com",
        }
        assert messages(docs, Environment.STAGING) == [
            "error: ConfigMap/leadgen-config holds 'smtp.example.com': " + PLACEHOLDERS[3][1]
        ]

    def test_the_settings_config_map_itself_is_not_read(self) -> None:
        """It holds the other cloud's keys too; each value it gives is checked where it lands."""
        docs = objects.rendered_docs(Environment.PROD)
        settings = {**objects.clone(find(docs, "ConfigMap", "leadgen-config")), "data": {"gcpProjectNumber": "0" * 12}}
        settings["metadata"]["name"] = contract.CLUSTER_SETTINGS
        assert messages([*docs, settings], Environment.PROD) == []


class TestWarnings:
    def test_replicas_on_a_deployment_an_hpa_scales(self) -> None:
        docs = objects.rendered_docs(Environment.DEV)
        find(docs, "Deployment", "api")["spec"]["replicas"] = 3
        assert messages(docs) == [
            "warning: Deployment/api sets spec.replicas although an HPA scales it; each deploy resets the count"
        ]

    def test_migration_job_must_run_db_upgrade(self) -> None:
        docs = objects.rendered_docs(Environment.DEV)
        container(docs, "Job", "db-migrate")["args"] = ["serve"]
        assert messages(docs) == ["warning: Job/db-migrate does not run `db upgrade`; is this the migration Job?"]


class TestValidateCommand:
    def test_valid_overlay_needs_no_cluster(self, run: Run, kube: FakeKube) -> None:
        kube.on("kustomize", stdout=objects.rendered(Environment.STAGING))
        result = run("validate", "staging")
        assert result.exit_code == 0
        assert "staging: 35 resources, valid" in result.stdout
        assert kube.commands()[0][0] == "kustomize" and len(kube.commands()) == 1

    def test_invalid_overlay_as_json(self, run: Run, kube: FakeKube) -> None:
        docs = objects.rendered_docs(Environment.DEV)
        container(docs)["image"] = "ghcr.io/leadgen/leadgen:latest"
        kube.on("kustomize", stdout=objects.rendered(Environment.DEV, docs))
        result = run("validate", "dev", "--json")
        assert result.exit_code == 1
        doc = payload(result)
        assert doc["ok"] is False and doc["resources"] == 35
        assert doc["findings"][0]["resource"] == "Deployment/api container api"


REPO = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl")
# What an installation writes over the committed placeholders (docs/KUBERNETES_SETUP.md, sections
# 3 and 4): its account and project, EFS file system, domains and mail, office ranges.
INSTALLATION_VALUES = [
    (re.compile(r"0{12}"), "123456789012"),
    (re.compile(r"fs-0{17}"), "fs-0123456789abcdef0"),
    (re.compile(r"\b(leadgen-[a-z]+)-0{6}\b"), r"\1-481516"),
    (re.compile(r"\bexample\.com\b"), "acme-insurance.com"),
    (re.compile(r"198\.51\.100\.0/24"), "100.64.10.0/24"),
    (re.compile(r"203\.0\.113\.0/24"), "100.64.11.0/24"),
]


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The overlays of a copy of k8s/ with an installation's values in place of the placeholders."""
    copy = tmp_path_factory.mktemp("installation") / "k8s"
    shutil.copytree(REPO / "k8s", copy)
    for file in (f for f in copy.rglob("*") if f.is_file() and f.suffix in {".yaml", ".env"}):
        text = file.read_text()
        for pattern, value in INSTALLATION_VALUES:
            text = pattern.sub(value, text)
        file.write_text(text)
    return copy / "overlays"


# What `leadgen k8s deploy` applies: the overlays and the variants built of them. An admin applies
# the dashboard, in a namespace of its own (docs/KUBERNETES_SETUP.md).
DEPLOYED_BY_THE_DEPLOYER = [target for target in DEPLOYABLE if target not in DASHBOARDS]


# Under CI=true a missing kubectl fails these tests instead of skipping them.
@pytest.mark.skipif(
    KUBECTL is None and not IN_CI, reason="kubectl is not installed (its kustomize renders the overlays)"
)
class TestTheRealOverlays:
    """Deploy must not refuse the project's own overlays for a reason of ours."""

    def report(self, env: Environment, overlays: Path = REPO / "k8s" / "overlays") -> ValidationReport:
        assert KUBECTL is not None, "kubectl is required under CI=true"
        overlay = overlays / env.value
        if not overlay.is_dir():
            if IN_CI:
                pytest.fail(f"{overlay} does not exist")
            pytest.skip(f"{overlay} does not exist")
        return validate_rendered(Kubectl(KUBECTL).kustomize(overlay), env)

    def test_dev_passes_as_committed(self) -> None:
        report = self.report(Environment.DEV)
        assert report.ok, report.errors

    @pytest.mark.parametrize("env", [Environment.STAGING, Environment.PROD])
    def test_staging_and_prod_refuse_the_committed_placeholders(self, env: Environment) -> None:
        """Account, EFS, domain, SMTP host and sender, Let's Encrypt e-mail, (staging) allow-list."""
        refused = {f.resource.split("/")[0]: f.message for f in self.report(env).errors if "placeholder" in f.message}
        expected = {"ServiceAccount", "StorageClass", "Gateway", "Certificate", "Issuer", "ConfigMap"}
        assert expected | ({"SecurityPolicy"} if env is Environment.STAGING else set()) <= set(refused), refused

    def test_an_installations_staging_passes(self, installation: Path) -> None:
        report = self.report(Environment.STAGING, installation)
        assert report.ok, report.errors

    def test_prod_fails_only_on_an_app_image_awaiting_its_release_digest(self, installation: Path) -> None:
        """The release pipeline pins the app image digest (k8s/overlays/prod/kustomization.yaml);
        until it has, deploy refuses an installation's prod, and for no other reason."""
        for finding in self.report(Environment.PROD, installation).errors:
            assert "image ghcr.io/leadgen/leadgen:" in finding.message, finding
            assert finding.message.endswith("is not pinned by digest (@sha256:...) in prod"), finding

    @pytest.mark.parametrize("env", list(Environment))
    def test_replica_floor_is_the_overlay_minimum(self, env: Environment) -> None:
        """``scale --hpa`` refuses a minReplicas below ``contract.REPLICA_FLOORS``: that must be
        what the overlay keeps, and above every PDB's minAvailable so drains can evict a pod."""
        resources = self.report(env).resources
        floor = contract.REPLICA_FLOORS[env]
        minimums = {
            r.body["spec"]["scaleTargetRef"]["name"]: r.body["spec"].get("minReplicas", 1)
            for r in resources
            if r.kind == "HorizontalPodAutoscaler"
        }
        assert minimums and set(minimums.values()) == {floor}, minimums
        for pdb in (r for r in resources if r.kind == "PodDisruptionBudget"):
            target = pdb.body["spec"]["selector"]["matchLabels"].get(contract.NAME_LABEL)
            if target in minimums and "minAvailable" in pdb.body["spec"]:
                assert floor > int(pdb.body["spec"]["minAvailable"]), pdb.ref

    @pytest.mark.parametrize("target", DEPLOYED_BY_THE_DEPLOYER)
    def test_the_deployer_role_may_do_what_deploy_does(self, target: str) -> None:
        """Every overlay and every variant: a component may bring kinds the overlays do not."""
        resources = render(target)
        role = next(r for r in resources if r["kind"] == "Role" and r["metadata"]["name"] == "leadgen-deployer")
        allowed = {
            (group, resource, verb)
            for rule in role["rules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for verb in rule["verbs"]
        }
        for res in resources:
            if res["kind"] in BOOTSTRAP_KINDS:
                continue  # an admin applies those
            group = res["apiVersion"].rpartition("/")[0]
            ref = f"{res['kind']}/{res['metadata']['name']}"
            for verb in ("get", "create", "patch"):  # server-side apply and diff
                assert (group, plural(res["kind"]), verb) in allowed, f"{ref}: {verb}"
        for group, resource, verb in DEPLOY_CALLS:
            assert (group, resource, verb) in allowed, f"{group}/{resource}: {verb}"

    def test_the_operator_role_may_make_every_call_debug_makes(self) -> None:
        role = next(
            r for r in self.report(Environment.DEV).resources if r.kind == "Role" and r.name == "leadgen-operator"
        )
        allowed = {
            (group, resource, verb)
            for rule in role.body["rules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for verb in rule["verbs"]
        }
        for group, resource, verb in DEBUG_CALLS:
            assert (group, resource, verb) in allowed, f"{group}/{resource}: {verb}"

    @pytest.mark.parametrize("env", list(Environment))
    def test_the_migration_job_retries_once_and_deploy_outwaits_its_deadline(self, env: Environment) -> None:
        job = next(r for r in self.report(env).resources if r.kind == "Job" and r.name == contract.MIGRATION_JOB)
        assert job.body["spec"]["backoffLimit"] <= 2  # a migration that failed twice fails again
        assert migration_timeout(job, None) >= job.body["spec"]["activeDeadlineSeconds"]

    @pytest.mark.parametrize("name", ["leadgen-deployer", "leadgen-operator", "leadgen-viewer"])
    def test_every_role_reads_endpointslices_for_readiness(self, name: str) -> None:
        role = next(r for r in self.report(Environment.DEV).resources if r.kind == "Role" and r.name == name)
        assert any(
            "discovery.k8s.io" in rule["apiGroups"]
            and "endpointslices" in rule["resources"]
            and "list" in rule["verbs"]
            for rule in role.body["rules"]
        )


# What deploy (with its health check) and rollback read, wait for and delete, besides applying.
DEPLOY_CALLS = [
    ("batch", "jobs", "delete"), ("batch", "jobs", "watch"), ("", "pods", "list"), ("", "pods/log", "get"),
    ("", "events", "list"), ("apps", "deployments", "watch"), ("apps", "statefulsets", "watch"),
    ("apps", "replicasets", "list"), ("discovery.k8s.io", "endpointslices", "list"), ("", "services", "list"),
    ("", "persistentvolumeclaims", "list"), ("gateway.networking.k8s.io", "gateways", "list"),
    ("gateway.networking.k8s.io", "httproutes", "list"), ("cert-manager.io", "certificates", "list"),
]  # fmt: skip


# What `debug` calls: pods, their logs and events, `top` (metrics-server's pod metrics), `shell`
# (exec, or an ephemeral container attached to when the image has no shell) and `port-forward`.
DEBUG_CALLS = [
    ("", "pods", "list"), ("", "pods/log", "get"), ("", "events", "list"), ("metrics.k8s.io", "pods", "list"),
    ("metrics.k8s.io", "pods", "get"), ("", "pods/exec", "create"), ("", "pods/ephemeralcontainers", "patch"),
    ("", "pods/attach", "create"), ("", "pods/portforward", "create"),
]  # fmt: skip


def plural(kind: str) -> str:
    """The resource name RBAC uses for a kind (NetworkPolicy -> networkpolicies)."""
    lower = kind.lower()
    if lower.endswith("y") and lower[-2] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith("s") else "s")
