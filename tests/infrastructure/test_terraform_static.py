"""Static checks of infrastructure/ that stand in for `terraform validate`.

Providers and registry modules cannot be downloaded here (no internet), so `terraform init`,
`validate` and `plan` cannot run. Instead: `terraform fmt`, a full HCL parse, duplicate
declarations, every reference resolved inside its module, every module argument checked
against the called module's inputs (local modules: their variables.tf; registry modules: the
input list recorded in tests/fixtures/terraform for the pinned version), and the layout rules
of issue 6 (pinned versions, remote state with locking, described and validated variables).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.tf_support import (
    CLOUDS,
    ENVIRONMENTS,
    INFRA_DIR,
    MODULE_META_ARGUMENTS,
    REPO_ROOT,
    TF_ROOT,
    environment_dirs,
    external_module_fixtures,
    is_local_source,
    load_module_dir,
    module_calls,
    module_dirs,
    parse,
    strip_comments,
    tf_files,
)

EXEMPT_FROM_VALIDATION = frozenset({"tags", "labels"})


def _terraform() -> str:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.fail("terraform is not on PATH; the fmt check needs the terraform CLI (1.11)")
    return binary


def test_infrastructure_tree_exists() -> None:
    for cloud in CLOUDS:
        for env in ENVIRONMENTS:
            assert (TF_ROOT / cloud / "environments" / env / "main.tf").is_file()
        assert (TF_ROOT / cloud / "modules").is_dir()
    assert (TF_ROOT / "cluster-setup.md").is_file()


def test_terraform_fmt_check() -> None:
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "CHECKPOINT_DISABLE": "1"}
    result = subprocess.run(
        [_terraform(), "fmt", "-check", "-recursive", "-diff", str(INFRA_DIR)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"terraform fmt would change files:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_tf_file_parses(path: Path) -> None:
    doc = parse(path)
    assert doc, f"{path} parsed to nothing"


@pytest.mark.parametrize("directory", module_dirs(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_duplicate_declarations(directory: Path) -> None:
    mod = load_module_dir(directory)
    duplicates = [
        f"{table[:-1]} {name}: " + ", ".join(d.file.name for d in decls)
        for table in ("variables", "outputs", "locals", "data", "resources", "modules")
        for name, decls in getattr(mod, table).items()
        if len(decls) > 1
    ]
    assert not duplicates, f"declared more than once in {directory}:\n" + "\n".join(duplicates)


def _references(directory: Path) -> list[tuple[str, str, Path]]:
    found: list[tuple[str, str, Path]] = []
    pattern = re.compile(r"(?<![\w.])(var|local|module|data)\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?")
    for file in sorted(directory.glob("*.tf")):
        text = strip_comments(file.read_text(encoding="utf-8"))
        for match in pattern.finditer(text):
            kind, first, second = match.group(1), match.group(2), match.group(3) or ""
            found.append((kind, f"{first}.{second}" if kind in {"module", "data"} else first, file))
    return found


@pytest.mark.parametrize("directory", module_dirs(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_reference_resolves_in_its_module(directory: Path) -> None:
    """var.X, local.X, data.T.N and module.M.O must be declared where they are used; a module
    output used must be an output of that module (local modules) or of the recorded version."""
    mod = load_module_dir(directory)
    fixtures = external_module_fixtures()
    problems: list[str] = []
    for kind, name, file in _references(directory):
        where = f"{file.name}: {kind}.{name}"
        if kind == "var" and name not in mod.variables:
            problems.append(f"{where} is not a declared variable")
        elif kind == "local" and name not in mod.locals:
            problems.append(f"{where} is not a declared local")
        elif kind == "data" and name not in mod.data:
            problems.append(f"{where} is not a declared data source")
        elif kind == "module":
            call_name, output = name.split(".", 1)
            if call_name not in mod.modules:
                problems.append(f"{where}: no module {call_name!r} here")
                continue
            source = mod.modules[call_name][0].body["source"]
            if is_local_source(source):
                target = load_module_dir((directory / source).resolve())
                if output and output not in target.outputs:
                    problems.append(f"{where}: {source} has no output {output!r}")
            elif source in fixtures and output and output not in (fixtures[source].outputs or {output}):
                problems.append(f"{where}: {source} {fixtures[source].version_constraint} has no output {output!r}")
    assert not problems, "\n".join(problems)


def _call_id(item: tuple[Any, str, dict[str, Any]]) -> str:
    mod, name, _ = item
    return f"{mod.path.relative_to(REPO_ROOT)}:{name}"


@pytest.mark.parametrize("call", list(module_calls()), ids=_call_id)
def test_module_call_arguments_are_accepted(call: tuple[Any, str, dict[str, Any]]) -> None:
    mod, name, body = call
    source = body["source"]
    arguments = set(body) - MODULE_META_ARGUMENTS
    if is_local_source(source):
        target_dir = (mod.path / source).resolve()
        assert target_dir.is_dir(), f"module {name}: {source} does not exist"
        target = load_module_dir(target_dir)
        accepted = set(target.variables)
        required = {v for v, decls in target.variables.items() if "default" not in decls[0].body}
        unknown = arguments - accepted
        missing = required - arguments
        assert not unknown, f"module {name} ({source}) has no input(s) {sorted(unknown)}"
        assert not missing, f"module {name} ({source}) misses required input(s) {sorted(missing)}"
        assert "version" not in body, f"module {name}: local modules take no version"
        return

    fixtures = external_module_fixtures()
    assert source in fixtures, (
        f"module {name}: no recorded input list for {source}; add one to tests/fixtures/terraform"
    )
    fixture = fixtures[source]
    assert body.get("version") == fixture.version_constraint, (
        f"module {name}: version {body.get('version')!r} but {fixture.file.name} records the inputs of "
        f"{fixture.version_constraint!r}; update the fixture together with the pin"
    )
    unknown = arguments - fixture.inputs
    assert not unknown, f"module {name} ({source} {fixture.version_constraint}) has no input(s) {sorted(unknown)}"
    missing = set(fixture.required_inputs) - arguments
    assert not missing, f"module {name} ({source}) misses required input(s) {sorted(missing)}"


def _object_keys(expression_source: dict[str, Any]) -> set[str]:
    return set(expression_source)


def test_eks_node_group_and_addon_objects_use_known_attributes() -> None:
    """The EKS module types eks_managed_node_groups and addons as objects: unknown attributes
    would be a plan-time error, so compare ours with the recorded attribute lists."""
    fixture = external_module_fixtures()["terraform-aws-modules/eks/aws"]
    cluster = load_module_dir(TF_ROOT / "aws" / "modules" / "eks-cluster")
    node_group_expr = cluster.local("eks_managed_node_groups")
    assert isinstance(node_group_expr, str)
    # `{ for pool, size in var.node_groups : pool => { ... } }` is kept as text by the parser.
    keys = set(re.findall(r"(?m)^\s*([a-z_]+)\s*=", _object_body(node_group_expr)))
    keys |= set(re.findall(r"[{,]\s*([a-z_]+)\s*=", _object_body(node_group_expr)))
    top_level = {k for k in keys if k in fixture.object_attributes["eks_managed_node_groups"] or not _is_nested(k)}
    unknown = top_level - fixture.object_attributes["eks_managed_node_groups"]
    assert not unknown, f"eks_managed_node_groups entries use unknown attributes {sorted(unknown)}"

    addons = cluster.modules["eks"][0].body["addons"]
    for addon_name, attrs in addons.items():
        unknown = _object_keys(attrs) - fixture.object_attributes["addons"]
        assert not unknown, f"addon {addon_name} uses unknown attributes {sorted(unknown)}"


_NESTED_KEYS = frozenset(
    {
        "root", "device_name", "ebs", "volume_size", "volume_type", "encrypted", "delete_on_termination",
        "http_endpoint", "http_tokens", "http_put_response_hop_limit", "max_unavailable_percentage",
    }
)  # fmt: skip


def _is_nested(key: str) -> bool:
    return key in _NESTED_KEYS


def _object_body(expression: str) -> str:
    start = expression.find("=>")
    return expression[start + 2 :] if start >= 0 else expression


def test_pod_identity_associations_use_known_attributes() -> None:
    fixture = external_module_fixtures()["terraform-aws-modules/eks-pod-identity/aws"]
    addons = load_module_dir(TF_ROOT / "aws" / "modules" / "cluster-addons")
    associations = addons.modules["pod_identity"][0].body["associations"]
    for attrs in associations.values():
        unknown = set(attrs) - fixture.object_attributes["associations"]
        assert not unknown, f"pod identity association uses unknown attributes {sorted(unknown)}"


def _passed_unchanged_to(mod: Any, name: str) -> list[tuple[Any, str]]:
    """(called local module, its variable) for every local module call that receives var.NAME
    as a whole argument, unchanged."""
    targets = []
    for decls in mod.modules.values():
        body = decls[0].body
        if not is_local_source(body["source"]):
            continue
        target = load_module_dir((mod.path / body["source"]).resolve())
        reference = f"${{var.{name}}}"
        targets += [(target, arg) for arg, value in body.items() if value == reference and arg in target.variables]
    return targets


def _is_any(body: dict[str, Any]) -> bool:
    return str(body.get("type")) in {"any", "${any}"}


def _is_validated(mod: Any, name: str) -> bool:
    """Validated where declared, or (said once) by the local module it is passed to unchanged."""
    body = mod.variables[name][0].body
    if body.get("type") in {"bool", "${bool}"} or name in EXEMPT_FROM_VALIDATION or body.get("validation"):
        return True
    return any(_is_validated(target, arg) for target, arg in _passed_unchanged_to(mod, name))


def _is_typed(mod: Any, name: str) -> bool:
    """`type = any` only where a local module that receives the value unchanged types it."""
    body = mod.variables[name][0].body
    if "type" not in body:
        return False
    return not _is_any(body) or any(_is_typed(target, arg) for target, arg in _passed_unchanged_to(mod, name))


@pytest.mark.parametrize("directory", module_dirs(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_variables_are_described_typed_and_validated(directory: Path) -> None:
    mod = load_module_dir(directory)
    problems: list[str] = []
    for name, decls in mod.variables.items():
        body = decls[0].body
        if not str(body.get("description", "")).strip():
            problems.append(f"variable {name} has no description")
        if not _is_typed(mod, name):
            problems.append(f"variable {name} has no type (any: not passed unchanged to a module that types it)")
        if not _is_validated(mod, name):
            problems.append(f"variable {name} has no validation block, here or in the module it is passed to")
    assert not problems, f"{directory}:\n" + "\n".join(problems)


@pytest.mark.parametrize("directory", module_dirs(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_outputs_are_described(directory: Path) -> None:
    mod = load_module_dir(directory)
    undocumented = [n for n, d in mod.outputs.items() if not str(d[0].body.get("description", "")).strip()]
    assert not undocumented, f"{directory}: outputs without description: {undocumented}"


@pytest.mark.parametrize("directory", environment_dirs(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_environment_roots_pin_versions_and_use_locked_remote_state(directory: Path) -> None:
    mod = load_module_dir(directory)
    assert (directory / "versions.tf").is_file(), f"{directory} has no versions.tf"
    terraform = {k: v for block in mod.terraform_blocks for k, v in block.items()}
    assert terraform.get("required_version") == "~> 1.11", "required_version must be ~> 1.11"

    providers = {k: v for entry in terraform.get("required_providers", []) for k, v in entry.items()}
    assert providers, "required_providers missing"
    for name, spec in providers.items():
        assert str(spec.get("version", "")).startswith("~>"), f"provider {name} not pinned with ~>"

    backends = {k: v for entry in terraform.get("backend", []) for k, v in entry.items()}
    cloud = directory.parts[-3]
    env = directory.name
    if cloud == "aws":
        assert set(backends) == {"s3"}, "EKS roots keep state in S3"
        s3 = backends["s3"]
        assert s3.get("use_lockfile") is True, "S3 backend must lock (use_lockfile = true)"
        assert s3.get("encrypt") is True
        assert s3.get("key") == f"leadgen/{env}/eks.tfstate"
    else:
        assert set(backends) == {"gcs"}, "GKE roots keep state in GCS"
        assert backends["gcs"].get("prefix") == f"leadgen/{env}/gke"

    assert "kubeconfig_command" in mod.outputs, "a deploy needs the kubeconfig command"
    platform = mod.modules["platform"][0].body
    assert platform["source"] == "../../modules/platform"
    assert platform["environment"] == env


def test_environment_roots_differ_only_in_settings() -> None:
    """Roots are thin: everything real lives in modules (no copy-pasted resources)."""
    for directory in environment_dirs():
        mod = load_module_dir(directory)
        assert not mod.resources, f"{directory} declares resources; put them in a module"
        assert set(mod.modules) == {"platform"}, f"{directory} should only call the platform module"


@pytest.mark.parametrize("directory", module_dirs(TF_ROOT), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_modules_declare_required_terraform_version(directory: Path) -> None:
    mod = load_module_dir(directory)
    terraform = {k: v for block in mod.terraform_blocks for k, v in block.items()}
    assert terraform.get("required_version"), f"{directory} has no required_version"


def test_no_kubectl_apply_from_terraform() -> None:
    """Terraform installs cluster add-ons only; the app is deployed from k8s/."""
    forbidden = re.compile(r"kubectl\s+apply|kubernetes_manifest|null_resource|local-exec|kustomization_resource")
    offenders = [
        str(p.relative_to(REPO_ROOT))
        for p in tf_files()
        if forbidden.search(strip_comments(p.read_text(encoding="utf-8")))
    ]
    assert not offenders, f"Terraform must not apply manifests: {offenders}"
