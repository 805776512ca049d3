"""The one place that runs kubectl. Everything else gets plain data from here.

Operators already have and trust kubectl: it carries their credentials, context and plugins, and
it has kustomize, server-side apply and exec built in. We drive it and read its
JSON (``-o json``) rather than talk to the API server ourselves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadgen.ops.errors import ContextError, KubectlError, KubectlNotFoundError


@dataclass(frozen=True)
class Completed:
    """One finished kubectl call."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def locate(path: str | None) -> str:
    """The kubectl to run: ``path`` if given (a file or a name on PATH), else ``kubectl``."""
    wanted = path or "kubectl"
    if os.sep in wanted:
        candidate = Path(wanted).expanduser()
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        raise KubectlNotFoundError(
            f"--kubectl {wanted}: no executable file there.",
            hint="Pass the full path of a kubectl binary, or leave --kubectl out to use PATH.",
        )
    found = shutil.which(wanted)
    if found is None:
        raise KubectlNotFoundError(
            f"{wanted} was not found on PATH.",
            hint="Install kubectl (https://kubernetes.io/docs/tasks/tools/) or pass --kubectl PATH.",
        )
    return found


@dataclass
class Kubectl:
    """kubectl bound to one context and namespace.

    Args:
        binary: path of the kubectl executable (see ``locate``).
        context: kubeconfig context; None means kubectl's current context.
        namespace: namespace for namespaced calls.
        on_run: called with each argument list before it runs (``--verbose`` prints them).
    """

    binary: str
    context: str | None = None
    namespace: str | None = None
    on_run: Callable[[Sequence[str]], None] | None = None
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def command(self, *args: str, namespaced: bool = True, cluster: bool = True) -> list[str]:
        """The full argument list: binary, global flags, then ``args``."""
        argv = [self.binary]
        if cluster and self.context:
            argv += ["--context", self.context]
        if cluster and namespaced and self.namespace:
            argv += ["--namespace", self.namespace]
        return [*argv, *args]

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        namespaced: bool = True,
        cluster: bool = True,
        check: bool = True,
    ) -> Completed:
        """Run kubectl and capture its output; raise KubectlError on failure when ``check``."""
        argv = self.command(*args, namespaced=namespaced, cluster=cluster)
        self._announce(argv)
        proc = subprocess.run(  # noqa: S603 - argv is a list; no shell is involved
            argv, input=stdin, capture_output=True, text=True, check=False
        )
        done = Completed(tuple(argv[1:]), proc.returncode, proc.stdout, proc.stderr)
        if check and not done.ok:
            raise KubectlError(args, done.returncode, done.stderr)
        return done

    def json(self, *args: str, namespaced: bool = True) -> Any:
        """Run ``kubectl ARGS -o json`` and parse what it prints."""
        done = self.run(*args, "-o", "json", namespaced=namespaced)
        try:
            return json.loads(done.stdout)
        except json.JSONDecodeError as exc:
            raise KubectlError(args, 0, f"kubectl printed something that is not JSON: {exc}") from exc

    def get(
        self,
        resource: str,
        name: str | None = None,
        *,
        selector: str | None = None,
        field_selector: str | None = None,
        namespaced: bool = True,
    ) -> Any:
        """``kubectl get`` as JSON: one object, or a ``kind: List`` with ``items``."""
        args = ["get", resource] + ([name] if name else [])
        if selector:
            args += ["--selector", selector]
        if field_selector:
            args += ["--field-selector", field_selector]
        return self.json(*args, namespaced=namespaced)

    def get_optional(self, resource: str, name: str, *, namespaced: bool = True) -> Any | None:
        """One object, or None when it does not exist."""
        try:
            return self.get(resource, name, namespaced=namespaced)
        except KubectlError as exc:
            if exc.not_found:
                return None
            raise

    def items(self, resource: str, *, selector: str | None = None, namespaced: bool = True) -> list[Any]:
        """The ``items`` of a list."""
        listed = self.get(resource, selector=selector, namespaced=namespaced)
        items = listed.get("items", []) if isinstance(listed, dict) else []
        return list(items)

    def passthrough(self, *args: str, namespaced: bool = True) -> int:
        """Run kubectl attached to this terminal (logs -f, exec -it, port-forward)."""
        argv = self.command(*args, namespaced=namespaced)
        self._announce(argv)
        return subprocess.run(argv, check=False).returncode  # noqa: S603 - list argv, no shell

    def kustomize(self, overlay: Path) -> str:
        """Render an overlay with kubectl's built-in kustomize; needs no cluster."""
        return self.run("kustomize", str(overlay), cluster=False).stdout

    def ensure_context(self) -> str:
        """The context kubectl will use; a clear error when there is none or it is unknown."""
        if self.context:
            known = self.run("config", "get-contexts", "-o", "name", cluster=False).stdout.split()
            if self.context not in known:
                listed = ", ".join(known) if known else "none"
                raise ContextError(
                    f"kubectl has no context named {self.context!r} (known: {listed}).",
                    hint="Check --context, or add the cluster to your kubeconfig "
                    "(aws eks update-kubeconfig / gcloud container clusters get-credentials).",
                )
            return self.context
        done = self.run("config", "current-context", cluster=False, check=False)
        current = done.stdout.strip()
        if not done.ok or not current:
            raise ContextError(
                "kubectl has no current context, so it does not know which cluster to use.",
                hint="Pass --context NAME, or run `kubectl config use-context NAME`.",
            )
        return current

    def _announce(self, argv: Sequence[str]) -> None:
        self.calls.append(tuple(argv[1:]))
        if self.on_run is not None:
            self.on_run(argv)
