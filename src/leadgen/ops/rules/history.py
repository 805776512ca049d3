"""Rollout history: which revisions exist and which one a rollback goes to.

``kubectl rollout history deployment/NAME`` prints::

    deployment.apps/api
    REVISION  CHANGE-CAUSE
    3         <none>
    4         image 1.4.2

The ReplicaSets behind it carry the same number in ``deployment.kubernetes.io/revision`` plus the
pod template of each revision (images, and the release deploy stamped on it), so we join both to
show what a rollback would run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leadgen.ops import contract
from leadgen.ops.errors import RuleError

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"


@dataclass(frozen=True)
class Revision:
    number: int
    change_cause: str | None
    images: tuple[str, ...] = ()
    created: str | None = None
    replica_set: str | None = None
    current: bool = False
    release: str | None = None
    schema_head: str | None = None


def parse_history(text: str) -> list[tuple[int, str | None]]:
    """(revision, change-cause) pairs from ``kubectl rollout history`` text, oldest first."""
    rows: list[tuple[int, str | None]] = []
    header_seen = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("REVISION"):
            header_seen = True
            continue
        if not header_seen or not stripped:
            continue
        number, _, cause = stripped.partition(" ")
        if not number.isdigit():
            continue
        cause = cause.strip()
        rows.append((int(number), None if cause in ("", "<none>") else cause))
    return sorted(rows)


def current_revision(deployment: dict[str, Any]) -> int | None:
    value = ((deployment.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    return int(value) if value and str(value).isdigit() else None


def revisions(history_text: str, replica_sets: dict[str, Any], deployment: dict[str, Any]) -> list[Revision]:
    """Join the history with the Deployment's ReplicaSets (images, creation time)."""
    uid = (deployment.get("metadata") or {}).get("uid")
    current = current_revision(deployment)
    by_number: dict[int, dict[str, Any]] = {}
    for rs in replica_sets.get("items") or []:
        meta = rs.get("metadata") or {}
        owners = meta.get("ownerReferences") or []
        if uid and not any(o.get("uid") == uid for o in owners):
            continue
        number = (meta.get("annotations") or {}).get(REVISION_ANNOTATION)
        if number and str(number).isdigit():
            by_number[int(number)] = rs
    result = []
    for number, cause in parse_history(history_text):
        rs = by_number.get(number, {})
        meta = rs.get("metadata") or {}
        template = (rs.get("spec") or {}).get("template") or {}
        images = tuple(c.get("image", "") for c in (template.get("spec") or {}).get("containers") or [])
        stamped = (template.get("metadata") or {}).get("annotations") or {}
        result.append(
            Revision(
                number,
                cause or (meta.get("annotations") or {}).get(CHANGE_CAUSE_ANNOTATION),
                images,
                meta.get("creationTimestamp"),
                meta.get("name"),
                number == current,
                stamped.get(contract.RELEASE_ANNOTATION),
                stamped.get(contract.SCHEMA_HEAD_ANNOTATION),
            )
        )
    return result


def runs_the_same(a: Revision, b: Revision) -> bool:
    """Whether two revisions run the same release and images: they differ only by what does not
    change the code (``kubectl rollout restart``, a label), so going from one to the other undoes
    nothing."""
    return a.release == b.release and a.images == b.images


def rollback_target(history: list[Revision], to_revision: int | None) -> int:
    """The revision a rollback goes to: ``to_revision``, or the newest older one that runs another
    release or other images than the current one. The one just before may run the very same
    release (a ``kubectl rollout restart`` after a secret rotation makes a revision); going back
    to it would undo nothing."""
    if not history:
        raise RuleError("no rollout history: the Deployment has never rolled out")
    numbers = [r.number for r in history]
    current = next((r for r in history if r.current), max(history, key=lambda r: r.number))
    if to_revision is not None:
        if to_revision not in numbers:
            raise RuleError(f"revision {to_revision} does not exist; known revisions: " + ", ".join(map(str, numbers)))
        if to_revision == current.number:
            raise RuleError(f"revision {to_revision} is already the current revision")
        return to_revision
    older = sorted((r for r in history if r.number < current.number), key=lambda r: r.number)
    if not older:
        raise RuleError(f"revision {current.number} is the only revision kept; there is nothing to roll back to")
    different = [r for r in older if not runs_the_same(r, current)]
    if not different:
        raise RuleError(
            f"every revision kept before {current.number} ({', '.join(str(r.number) for r in older)}) runs "
            f"{describe(current)} as it does (restarts or edits outside deploy), so going back would change "
            "nothing; name one with --to-revision N to go back anyway"
        )
    return different[-1].number


def describe(rev: Revision) -> str:
    """``release 1.5.0+abc`` or, for a revision deployed before releases were recorded, its images."""
    if rev.release:
        return f"release {rev.release}"
    return "images " + (", ".join(rev.images) or "(unknown)")
