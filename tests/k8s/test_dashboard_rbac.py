"""What a Headlamp sign-in token may do (docs/KUBERNETES_SECURITY.md, "Dashboard").

The viewer reads; the admin reads the same and manages only the environment's namespace and
Headlamp's own. Nothing writes cluster-wide: the built-in "admin" role bound by a
ClusterRoleBinding would reach kube-system and every add-on's namespace.
"""

from __future__ import annotations

from .render import NAMESPACES, Resource, find, of_kind, render

DASHBOARD_NAMESPACE = "headlamp"
READ_VERBS = {"get", "list", "watch"}
# Built-in ClusterRoles: the one that only reads, and those that write.
READ_ONLY_BUILTIN_ROLES = {"view"}
WRITING_BUILTIN_ROLES = {"edit", "admin", "cluster-admin"}


def _environment_namespace(resources: list[Resource]) -> str:
    route = find(resources, "HTTPRoute", "headlamp")
    namespace: str = route["spec"]["parentRefs"][0]["namespace"]
    return namespace


def test_cluster_wide_bindings_only_read() -> None:
    resources = render("dashboard")
    problems = []
    for binding in of_kind(resources, "ClusterRoleBinding"):
        name, role = binding["metadata"]["name"], binding["roleRef"]["name"]
        if role in WRITING_BUILTIN_ROLES:
            problems.append(f"ClusterRoleBinding {name} -> built-in {role} writes in every namespace")
        elif role not in READ_ONLY_BUILTIN_ROLES:
            rules = find(resources, "ClusterRole", role)["rules"]
            writes = sorted({verb for rule in rules for verb in rule["verbs"]} - READ_VERBS)
            if writes:
                problems.append(f"ClusterRoleBinding {name} -> {role} grants {writes}")
    assert not problems, "\n".join(problems)


def test_admin_manages_only_the_environment_and_headlamp_namespaces() -> None:
    resources = render("dashboard")
    environment = _environment_namespace(resources)
    assert environment in NAMESPACES.values(), f"the route attaches to {environment}, not an environment"
    admin_namespaces = {
        binding["metadata"]["namespace"]
        for binding in of_kind(resources, "RoleBinding")
        if binding["roleRef"]["name"] == "admin"
    }
    assert admin_namespaces == {environment, DASHBOARD_NAMESPACE}
    for binding in of_kind(resources, "RoleBinding"):
        subjects = {(s["kind"], s["name"], s.get("namespace")) for s in binding["subjects"]}
        assert subjects == {("ServiceAccount", "headlamp-admin", DASHBOARD_NAMESPACE)}, binding["metadata"]


def test_both_identities_read_everywhere() -> None:
    """The admin sees what the viewer sees (pods in kube-system, nodes), it only writes less widely."""
    resources = render("dashboard")
    granted: dict[str, set[str]] = {}
    for binding in of_kind(resources, "ClusterRoleBinding"):
        for subject in binding["subjects"]:
            granted.setdefault(subject["name"], set()).add(binding["roleRef"]["name"])
    assert granted["headlamp-viewer"] == granted["headlamp-admin"] == {"view", "headlamp-cluster-reader"}
