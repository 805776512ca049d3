"""Reading the Terraform under infrastructure/ without Terraform.

Providers and registry modules cannot be downloaded on our machines, so `terraform validate`
cannot run. These helpers parse the HCL with python-hcl2 and give the tests a plain-Python
view of it: quotes stripped, parser bookkeeping keys dropped, blocks indexed by name.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infrastructure"
TF_ROOT = INFRA_DIR / "kubernetes"
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures" / "terraform"
CLOUDS = ("aws", "gcp")
ENVIRONMENTS = ("dev", "staging", "prod")

# Arguments every module block accepts besides the module's own inputs.
MODULE_META_ARGUMENTS = frozenset({"source", "version", "providers", "count", "for_each", "depends_on"})


def unquote(text: str) -> str:
    """python-hcl2 keeps the quotes of string literals and block labels; drop them."""
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    return text


def clean(value: Any) -> Any:
    """Strip quotes everywhere and drop python-hcl2's ``__is_block__``/``__comments__`` keys."""
    if isinstance(value, str):
        return unquote(value)
    if isinstance(value, list):
        return [clean(item) for item in value]
    if isinstance(value, dict):
        return {unquote(k): clean(v) for k, v in value.items() if not k.startswith("__")}
    return value


@functools.cache
def parse_raw(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = hcl2.load(handle)
    return data


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    cleaned: dict[str, Any] = clean(parse_raw(path))
    return cleaned


def tf_files(root: Path = INFRA_DIR) -> list[Path]:
    return sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)


def module_dirs(root: Path = INFRA_DIR) -> list[Path]:
    return sorted({p.parent for p in tf_files(root)})


def environment_dirs() -> list[Path]:
    return [TF_ROOT / cloud / "environments" / env for cloud in CLOUDS for env in ENVIRONMENTS]


def environment_settings(cloud: str, env: str) -> dict[str, Any]:
    """The arguments of an environment root's one ``module "platform"`` call: the values that
    make that environment differ (sizing, address plan, flags)."""
    root = load_module_dir(TF_ROOT / cloud / "environments" / env)
    settings: dict[str, Any] = root.one("modules", "platform")
    return settings


def strip_comments(text: str) -> str:
    """Remove #, // and /* */ comments (good enough for our own files: no '#' inside strings)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    return "\n".join(re.split(r"\s#|^#|\s//|^//", line, maxsplit=1)[0] for line in text.splitlines())


@dataclass
class Declaration:
    kind: str
    name: str
    file: Path
    body: Any


@dataclass
class ModuleDir:
    """Everything declared in one Terraform module directory."""

    path: Path
    variables: dict[str, list[Declaration]] = field(default_factory=dict)
    outputs: dict[str, list[Declaration]] = field(default_factory=dict)
    locals: dict[str, list[Declaration]] = field(default_factory=dict)
    data: dict[str, list[Declaration]] = field(default_factory=dict)
    resources: dict[str, list[Declaration]] = field(default_factory=dict)
    modules: dict[str, list[Declaration]] = field(default_factory=dict)
    terraform_blocks: list[dict[str, Any]] = field(default_factory=list)
    providers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def one(self, table: str, name: str) -> Any:
        entries: dict[str, list[Declaration]] = getattr(self, table)
        if name not in entries:
            raise KeyError(f"{self.path}: no {table} {name!r}")
        return entries[name][0].body

    def local(self, name: str) -> Any:
        return self.one("locals", name)


def _add(table: dict[str, list[Declaration]], decl: Declaration) -> None:
    table.setdefault(decl.name, []).append(decl)


@functools.cache
def load_module_dir(path: Path) -> ModuleDir:
    mod = ModuleDir(path=path)
    for file in sorted(path.glob("*.tf")):
        doc = parse(file)
        for entry in doc.get("variable", []):
            for name, body in entry.items():
                _add(mod.variables, Declaration("variable", name, file, body))
        for entry in doc.get("output", []):
            for name, body in entry.items():
                _add(mod.outputs, Declaration("output", name, file, body))
        for entry in doc.get("locals", []):
            for name, body in entry.items():
                _add(mod.locals, Declaration("local", name, file, body))
        for kind, table in (("data", mod.data), ("resource", mod.resources)):
            for entry in doc.get(kind, []):
                for rtype, named in entry.items():
                    for rname, body in named.items():
                        _add(table, Declaration(kind, f"{rtype}.{rname}", file, body))
        for entry in doc.get("module", []):
            for name, body in entry.items():
                _add(mod.modules, Declaration("module", name, file, body))
        mod.terraform_blocks.extend(doc.get("terraform", []))
        for entry in doc.get("provider", []):
            for name, body in entry.items():
                mod.providers.append((name, body))
    return mod


def is_local_source(source: str) -> bool:
    return source.startswith(("./", "../"))


@dataclass(frozen=True)
class ExternalModuleFixture:
    """Input list of one registry module version, recorded in tests/fixtures/terraform."""

    file: Path
    source: str
    version_constraint: str
    inputs: frozenset[str]
    required_inputs: frozenset[str]
    outputs: frozenset[str] | None
    object_attributes: dict[str, frozenset[str]]


@functools.cache
def external_module_fixtures() -> dict[str, ExternalModuleFixture]:
    fixtures: dict[str, ExternalModuleFixture] = {}
    for file in sorted(FIXTURES_DIR.glob("*.json")):
        raw = json.loads(file.read_text(encoding="utf-8"))
        if "source" not in raw or "inputs" not in raw:
            continue
        outputs = raw.get("outputs")
        fixtures[raw["source"]] = ExternalModuleFixture(
            file=file,
            source=raw["source"],
            version_constraint=raw["version_constraint"],
            inputs=frozenset(raw["inputs"]),
            required_inputs=frozenset(raw.get("required_inputs", [])),
            outputs=frozenset(outputs) if outputs is not None else None,
            object_attributes={k: frozenset(v) for k, v in raw.get("object_attributes", {}).items()},
        )
    return fixtures


def module_calls() -> Iterator[tuple[ModuleDir, str, dict[str, Any]]]:
    for directory in module_dirs():
        mod = load_module_dir(directory)
        for name, decls in mod.modules.items():
            for decl in decls:
                yield mod, name, decl.body


# --- a tiny evaluator for the string templates the contract tests need -----------------------

_INTERPOLATION = re.compile(r"\$\{([^{}]+)\}")


class TemplateError(ValueError):
    pass


def render_template(
    template: str,
    *,
    variables: dict[str, str],
    locals_: dict[str, Any],
    each_key: str | None = None,
    each_value: dict[str, Any] | None = None,
    _depth: int = 0,
) -> str:
    """Evaluate ``${var.x}``, ``${local.x}``, ``${local.map[var.x]}``, ``${each.key}`` and
    ``${each.value.x}`` in a Terraform string template. Anything else is an error, so a test
    never silently compares half-rendered names."""
    if _depth > 10:
        raise TemplateError(f"template nests too deep: {template}")

    def resolve(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if expr.startswith("var."):
            key = expr[4:]
            if key not in variables:
                raise TemplateError(f"no value for {expr} in {template!r}")
            return variables[key]
        if expr == "each.key":
            if each_key is None:
                raise TemplateError(f"each.key outside for_each in {template!r}")
            return each_key
        if expr.startswith("each.value."):
            attr = expr[len("each.value.") :]
            if each_value is None or attr not in each_value:
                raise TemplateError(f"no {expr} in {template!r}")
            return str(each_value[attr])
        indexed = re.fullmatch(r"local\.(\w+)\[var\.(\w+)\]", expr)
        if indexed:
            table = locals_.get(indexed.group(1))
            key = variables.get(indexed.group(2))
            if not isinstance(table, dict) or key not in table:
                raise TemplateError(f"cannot evaluate {expr} in {template!r}")
            return str(table[key])
        plain = re.fullmatch(r"local\.(\w+)", expr)
        if plain and isinstance(locals_.get(plain.group(1)), str):
            return render_template(
                locals_[plain.group(1)],
                variables=variables,
                locals_=locals_,
                each_key=each_key,
                each_value=each_value,
                _depth=_depth + 1,
            )
        raise TemplateError(f"unsupported expression ${{{expr}}} in {template!r}")

    return _INTERPOLATION.sub(resolve, template)


def flat_locals(mod: ModuleDir) -> dict[str, Any]:
    return {name: decls[0].body for name, decls in mod.locals.items()}
