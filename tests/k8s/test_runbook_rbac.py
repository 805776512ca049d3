"""On-call can follow the runbook: every kubectl command of docs/KUBERNETES_TROUBLESHOOTING.md in
the environment's namespace is one the Role `leadgen-operator` allows.

Each command is mapped to the (API group, resource, verb, name) checks the API server makes for it;
a command this test cannot map fails it, so a new runbook step is never silently unchecked.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest

from .render import OVERLAYS, REPO, Resource, find, overlay

RUNBOOK = REPO / "docs" / "KUBERNETES_TROUBLESHOOTING.md"
ROLE = "leadgen-operator"
ENVIRONMENT_NAMESPACE = "$NS"  # the runbook's commands in the environment's namespace

# kubectl's names of kinds -> (API group, resource) as RBAC names them.
RESOURCES = {
    **dict.fromkeys(["pod", "pods"], ("", "pods")),
    **dict.fromkeys(["svc", "service"], ("", "services")),
    **dict.fromkeys(["pvc", "persistentvolumeclaim"], ("", "persistentvolumeclaims")),
    "secret": ("", "secrets"),
    "endpointslices": ("discovery.k8s.io", "endpointslices"),
    **dict.fromkeys(["deploy", "deployment"], ("apps", "deployments")),
    **dict.fromkeys(["job", "jobs"], ("batch", "jobs")),
    "cronjob": ("batch", "cronjobs"),
    "hpa": ("autoscaling", "horizontalpodautoscalers"),
    "networkpolicy": ("networking.k8s.io", "networkpolicies"),
    "gateway": ("gateway.networking.k8s.io", "gateways"),
    "certificate": ("cert-manager.io", "certificates"),
    "certificaterequest": ("cert-manager.io", "certificaterequests"),
    "order": ("acme.cert-manager.io", "orders"),
    "challenge": ("acme.cert-manager.io", "challenges"),
    "externalsecret": ("external-secrets.io", "externalsecrets"),
    "cluster": ("postgresql.cnpg.io", "clusters"),
    "backup": ("postgresql.cnpg.io", "backups"),
    "scheduledbackup": ("postgresql.cnpg.io", "scheduledbackups"),
    "objectstore": ("barmancloud.cnpg.io", "objectstores"),
}
# What logs, exec and port-forward ask of the pod they reach.
POD_SUBRESOURCES = {
    "logs": ("pods/log", "get"),
    "exec": ("pods/exec", "create"),
    "port-forward": ("pods/portforward", "create"),
}
# Flags whose value is the next word (the others are boolean or written flag=value).
VALUE_FLAGS = {"-c", "-l", "-L", "-o", "-p", "--selector"}
# Plugin commands whose API calls are the plugin's own, not checked here: `cnpg status` reads
# through the instances, `cnpg promote` (a planned switchover) patches clusters/status.
UNCHECKED = {("cnpg", "status"), ("cnpg", "promote")}

GENERATED_SUFFIX = re.compile(r"-[a-z0-9]{10}$")

Check = tuple[str, str, str, str | None]  # API group, resource, verb, object name (None: any)


def runbook_commands() -> list[tuple[int, list[str]]]:
    """(line, words after `kubectl` and the namespace) of each command in the environment's
    namespace, from code blocks (continued lines joined) and inline code."""
    texts: list[tuple[int, str]] = []
    in_code, pending = False, ""
    for number, line in enumerate(RUNBOOK.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif in_code:
            pending += line.rstrip().removesuffix("\\") + " "
            if not line.rstrip().endswith("\\"):
                texts.append((number, pending))
                pending = ""
        else:
            texts += [(number, span) for span in re.findall(r"`([^`]*kubectl [^`]*)`", line)]
    commands = []
    for number, text in texts:
        # One command per pipeline stage, list member or command substitution.
        for part in re.split(r"\$\(|\||&&|;", text):
            if "kubectl " not in part:
                continue
            words = _words(part[part.index("kubectl ") :].split("#")[0])[1:]
            flags = [i for i, word in enumerate(words[:-1]) if word in ("-n", "--namespace")]
            if flags and words[flags[0] + 1] == ENVIRONMENT_NAMESPACE:
                commands.append((number, words[: flags[0]] + words[flags[0] + 2 :]))
    return commands


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:  # a quoted shell script cut at a `$(`, past the arguments that matter here
        return command.split()


def positional(words: list[str]) -> list[str]:
    """The arguments of a command that are not flags or their values, up to `--`."""
    found: list[str] = []
    for i, word in enumerate(words):
        if word == "--":
            break
        if not word.startswith("-") and (i == 0 or words[i - 1] not in VALUE_FLAGS):
            found.append(word)
    return found


def _object(argument: str) -> tuple[tuple[str, str], str | None]:
    """(group, resource) and name of `kind/name`; a bare word names a pod."""
    kind, _, name = argument.rpartition("/") if "/" in argument else ("pod", "", argument)
    return RESOURCES[kind], name or None


def checks(words: list[str]) -> list[Check]:
    """What the API server checks for one kubectl command (the namespace flag removed)."""
    verb, args = words[0], positional(words[1:])
    if verb in ("get", "describe"):
        name = args[1] if len(args) > 1 else None
        found: list[Check] = [(*RESOURCES[kind], "get" if name else "list", name) for kind in args[0].split(",")]
        return found + ([("", "events", "list", None)] if verb == "describe" else [])
    if verb in ("logs", "exec", "port-forward"):
        (group, resource), name = _object(args[0])
        # A workload or Service is resolved to one of its pods.
        found = [(group, resource, "get", name)] + ([("", "pods", "list", None)] if resource != "pods" else [])
        return [*found, ("", *POD_SUBRESOURCES[verb], None)]
    if verb in ("annotate", "patch", "delete"):
        return [(*RESOURCES[args[0]], "delete" if verb == "delete" else "patch", args[1])]
    if verb == "create" and args[0] == "job":
        source = next(w.removeprefix("--from=cronjob/") for w in words if w.startswith("--from=cronjob/"))
        return [("batch", "cronjobs", "get", source), ("batch", "jobs", "create", None)]
    if verb == "cnpg" and args[0] == "psql":
        # `kubectl exec` into the Cluster's primary, found from the Cluster and its pods.
        primary: list[Check] = [("postgresql.cnpg.io", "clusters", "get", args[1]), ("", "pods", "list", None)]
        return [*primary, ("", "pods/exec", "create", None)]
    raise AssertionError(f"kubectl {' '.join(words)}: teach this test what the API server checks for it")


def allows(rules: list[dict[str, Any]], check: Check) -> bool:
    """Whether RBAC grants the check: a rule with resourceNames grants only those objects, by name
    (in dev, the name of the generated Secret, which carries kustomize's hash suffix)."""
    group, resource, verb, name = check
    return any(
        group in rule["apiGroups"]
        and resource in rule["resources"]
        and verb in rule["verbs"]
        and ("resourceNames" not in rule or name in {GENERATED_SUFFIX.sub("", n) for n in rule["resourceNames"]})
        for rule in rules
    )


def operator_rules(resources: list[Resource]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = find(resources, "Role", ROLE)["rules"]
    return rules


def test_the_runbook_is_read() -> None:
    commands = [" ".join(words[:2]) for _, words in runbook_commands()]
    assert {"annotate externalsecret", "describe objectstore", "patch pvc", "logs job/db-migrate"} <= set(commands)


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_operator_may_run_every_runbook_command(name: str) -> None:
    rules = operator_rules(overlay(name))
    refused = [
        f"line {number}: kubectl {' '.join(words)}: needs {[c for c in checks(words) if not allows(rules, c)]}"
        for number, words in runbook_commands()
        if tuple(words[:2]) not in UNCHECKED and not all(allows(rules, c) for c in checks(words))
    ]
    assert not refused, f"{ROLE} in {name} cannot:\n" + "\n".join(refused)


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_operator_reads_only_the_secret_the_runbook_names(name: str) -> None:
    """On-call reads Qdrant's API key to ask Qdrant directly; every other Secret stays out of reach."""
    rules = operator_rules(overlay(name))
    assert allows(rules, ("", "secrets", "get", "qdrant-credentials"))
    for verb in ("get", "list", "watch"):
        assert not allows(rules, ("", "secrets", verb, "leadgen-app-keys")), verb
        assert not allows(rules, ("", "secrets", verb, None)), verb
