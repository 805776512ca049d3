"""Static checks of what single Terraform resources must say for the cloud to accept and use
them (no provider can run here): the KMS location of the GCS backup key, the usage-log writer
of the access-log bucket, add-ons on the system pool, the Backup for GKE plan and the scope of
External DNS's Cloud DNS rights."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infrastructure.tf_support import ENVIRONMENTS, TF_ROOT, load_module_dir, parse

GCP_MODULES = TF_ROOT / "gcp" / "modules"

# Cloud KMS names of the Cloud Storage multi-regions (cloud.google.com/kms/docs/locations); a
# CMEK must sit in the bucket's location, and there is no KMS location "eu".
KMS_LOCATION_OF_MULTI_REGION = {"EU": "europe", "US": "us", "ASIA": "asia"}
REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]$")
# Cloud Storage writes usage logs as this group (cloud.google.com/storage/docs/access-logs).
USAGE_LOG_WRITER = "group:cloud-storage-analytics@google.com"


def _workload_identity() -> Any:
    return load_module_dir(GCP_MODULES / "workload-identity")


def _kms_location(backup_location: str) -> str:
    """The key ring location the workload-identity module computes for a bucket location."""
    mod = _workload_identity()
    ring_location = mod.resources["google_kms_key_ring.data"][0].body["location"]
    assert ring_location == "${local.backup_kms_location}", f"key ring location is {ring_location}"
    expression = mod.local("backup_kms_location")
    assert expression == (
        "${lookup(local.backup_kms_locations, upper(var.backup_location), lower(var.backup_location))}"
    ), f"unexpected backup_kms_location: {expression}"
    return str(mod.local("backup_kms_locations").get(backup_location.upper(), backup_location.lower()))


def _backup_locations() -> dict[str, str]:
    default = _workload_identity().variables["backup_location"][0].body["default"]
    return {
        env: parse(TF_ROOT / "gcp" / "environments" / env / "terraform.tfvars.example")["installation"].get(
            "backup_location", default
        )
        for env in ENVIRONMENTS
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backup_key_ring_is_in_the_kms_location_of_the_backup_bucket(env: str) -> None:
    location = _backup_locations()[env]
    expected = KMS_LOCATION_OF_MULTI_REGION.get(location.upper(), location.lower())
    assert location.upper() in KMS_LOCATION_OF_MULTI_REGION or REGION.match(location.lower())
    assert _kms_location(location) == expected


def test_backup_location_validation_accepts_only_locations_the_key_map_handles() -> None:
    mod = _workload_identity()
    assert mod.local("backup_kms_locations") == {"EU": "europe", "US": "us", "ASIA": "asia"}
    conditions = [v["condition"] for v in mod.variables["backup_location"][0].body["validation"]]
    assert any(
        "contains(keys(local.backup_kms_locations), upper(var.backup_location))" in c
        or 'contains(["EU", "US", "ASIA"], upper(var.backup_location))' in c
        for c in conditions
    ), f"backup_location is not checked against the multi-regions the key map knows: {conditions}"
    assert any("[a-z]+-[a-z]+[0-9]" in c for c in conditions), "a single region must stay possible"


def test_backup_access_log_bucket_lets_cloud_storage_write_usage_logs() -> None:
    mod = _workload_identity()
    logged = mod.resources["google_storage_bucket.postgres_backups"][0].body["logging"][0]
    assert logged["log_bucket"] == "${google_storage_bucket.backup_access_logs.name}"
    grants = [
        decls[0].body
        for name, decls in mod.resources.items()
        if name.startswith("google_storage_bucket_iam_member.")
        and decls[0].body.get("bucket") == "${google_storage_bucket.backup_access_logs.name}"
    ]
    assert {"member": USAGE_LOG_WRITER, "role": "roles/storage.objectCreator"} in [
        {"member": g.get("member"), "role": g.get("role")} for g in grants
    ], "nothing lets Cloud Storage write the backup bucket's access logs"


def test_every_addon_release_runs_on_the_system_pool() -> None:
    """Every chart of modules/platform-addons, the dependent ones included, is pinned to the
    tainted system pool through local.system_pool."""
    mod = load_module_dir(TF_ROOT / "modules" / "platform-addons")
    releases = {**mod.local("helm_releases"), **mod.local("dependent_releases")}
    unpinned = sorted(
        name for name, release in releases.items() if "local.system_pool" not in str(release.get("values"))
    )
    assert not unpinned, f"add-ons not pinned to the system pool: {unpinned}"
    for resource in ("helm_release.addon", "helm_release.dependent"):
        values = str(mod.resources[resource][0].body.get("values"))
        assert "each.value.values" in values, f"{resource} does not pass each release's values"


def _gke_cluster() -> Any:
    return load_module_dir(GCP_MODULES / "gke-cluster")


def test_backup_for_gke_has_a_daily_plan_with_volume_data_of_the_app_namespace() -> None:
    mod = _gke_cluster()
    assert mod.modules["gke"][0].body["gke_backup_agent_config"] is True
    plans = [name for name in mod.resources if name.startswith("google_gke_backup_backup_plan.")]
    assert plans == ["google_gke_backup_backup_plan.this"], f"backup plans: {plans}"
    plan = mod.resources["google_gke_backup_backup_plan.this"][0].body
    assert plan["cluster"] == "${module.gke.cluster_id}"
    assert plan["location"] == "${var.region}"
    cron = plan["backup_schedule"][0]["cron_schedule"]
    minute, hour, *every_day = cron.split()
    assert minute.isdigit() and hour.isdigit() and every_day == ["*", "*", "*"], f"not once a day: {cron}"
    retention = plan["retention_policy"][0]
    assert retention["backup_retain_days"] == "${var.backup_retain_days}"
    config = plan["backup_config"][0]
    assert config["include_volume_data"] is True
    assert config["selected_namespaces"][0]["namespaces"] == ["leadgen-${var.environment}"]
    assert "all_namespaces" not in config
    assert config["encryption_key"][0]["gcp_kms_encryption_key"] == '${google_kms_crypto_key.this["gke-backups"].id}'
    key = mod.resources["google_kms_crypto_key.this"][0].body
    assert key["key_ring"] == "${google_kms_key_ring.this.id}", "the key must be in the plan's region"
    assert mod.locals["crypto_key_users"][0].body["gke-backups"] == "gcp-sa-gkebackup"
    grant = mod.resources["google_kms_crypto_key_iam_member.service_agent"][0].body
    assert grant["crypto_key_id"] == "${google_kms_crypto_key.this[each.key].id}"
    agent = "service-${data.google_project.this.number}@${each.value}.iam.gserviceaccount.com"
    assert grant["member"] == f"serviceAccount:{agent}"
    assert "backup_plan" in mod.outputs
    variable = mod.variables["backup_retain_days"][0].body
    assert 1 <= variable["default"] <= 365


def test_external_dns_administers_only_the_named_cloud_dns_zones() -> None:
    addons = load_module_dir(GCP_MODULES / "cluster-addons")
    project_roles = {
        decls[0].body["role"]
        for name, decls in addons.resources.items()
        if name.startswith("google_project_iam_member.")
    }
    assert "roles/dns.admin" not in str(addons.locals) and "roles/dns.admin" not in project_roles, (
        "External DNS must not be DNS admin of the whole project"
    )
    reader = addons.resources["google_project_iam_member.external_dns_reader"][0].body
    assert reader["role"] == "roles/dns.reader"
    zone_admin = addons.resources["google_dns_managed_zone_iam_member.external_dns"][0].body
    assert zone_admin["role"] == "roles/dns.admin"
    assert zone_admin["for_each"] == "${toset(var.managed_zones)}"
    assert zone_admin["managed_zone"] == "${each.value}"
    assert "validation" in addons.variables["managed_zones"][0].body

    platform = load_module_dir(GCP_MODULES / "platform")
    assert platform.modules["addons"][0].body["managed_zones"] == "${var.installation.managed_zones}"
    installation_type = str(platform.variables["installation"][0].body["type"])
    assert "managed_zones" in installation_type
    assert "managed_zones" in platform.variables["installation"][0].body["description"]
    for env in ENVIRONMENTS:
        example = parse(TF_ROOT / "gcp" / "environments" / env / "terraform.tfvars.example")["installation"]
        assert example.get("managed_zones"), f"{env}: terraform.tfvars.example names no managed_zones"
