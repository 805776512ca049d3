"""Releases: what deploy stamps on the pod templates, and where a release rollback goes.

A release is everything one deploy runs. Deploy names it ``<app image tag>+<fingerprint>``, the
fingerprint a hash of every app Deployment's pod template (and the schema head): the same
checkout deployed twice gives the same name, so a redeploy restarts nothing, and any change to
what a pod runs (image, config, resources) gives a new one. The name goes into the pod template
of every app Deployment, so a new release rolls each of them once, even one whose pods did not
otherwise change: that is what leaves one ReplicaSet per Deployment carrying each release, and
lets a rollback of every service take each Deployment to its newest ReplicaSet of the previous
release, not each to its own previous revision.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadgen.ops import contract
from leadgen.ops.errors import RuleError
from leadgen.ops.rules.history import Revision
from leadgen.ops.rules.manifests import Resource, pod_spec

FINGERPRINT_LENGTH = 10
DOCS = "docs/KUBERNETES_DEPLOYMENT.md#rollback"


def image_tag(image: str) -> str | None:
    """``0.2.0`` of ``ghcr.io/leadgen/leadgen:0.2.0@sha256:...``; None without a tag."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _app_deployments(resources: Iterable[Resource]) -> list[Resource]:
    return sorted(
        (r for r in resources if r.kind == "Deployment" and r.name in contract.DEPLOYMENTS),
        key=lambda r: r.name,
    )


def app_image_tag(resources: Iterable[Resource]) -> str | None:
    """The tag of the app image the Deployments run (one image for every target)."""
    tags = {
        image_tag(str(c.get("image", "")))
        for r in _app_deployments(resources)
        for c in (pod_spec(r.body) or {}).get("containers") or []
        if str(c.get("image", "")).startswith(contract.APP_IMAGE + ":")
    }
    tags.discard(None)
    return tags.pop() if len(tags) == 1 else None


def release_name(resources: Sequence[Resource], schema_head: str | None) -> str:
    """``<tag>+<fingerprint>``: stable while no app pod template changes (see the module docstring)."""
    templates = {r.name: (r.body.get("spec") or {}).get("template") for r in _app_deployments(resources)}
    canonical = json.dumps({"templates": templates, "schema_head": schema_head}, sort_keys=True)
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:FINGERPRINT_LENGTH]
    return f"{app_image_tag(resources) or 'untagged'}+{fingerprint}"


def stamp(resources: Sequence[Resource], release: str, schema_head: str | None) -> list[Resource]:
    """The resources with the release (and schema head) on the pod template of every app
    Deployment and of the migration Job; everything else unchanged."""
    annotations = {contract.RELEASE_ANNOTATION: release}
    if schema_head is not None:
        annotations[contract.SCHEMA_HEAD_ANNOTATION] = schema_head
    stamped = []
    for res in resources:
        is_app = res.kind == "Deployment" and res.name in contract.DEPLOYMENTS
        is_migration = res.kind == "Job" and res.name == contract.MIGRATION_JOB
        if not (is_app or is_migration):
            stamped.append(res)
            continue
        body = copy.deepcopy(res.body)
        metadata = body.setdefault("spec", {}).setdefault("template", {}).setdefault("metadata", {})
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **annotations}
        stamped.append(Resource(res.api_version, res.kind, res.name, res.namespace, body))
    return stamped


def template_release(workload: Mapping[str, Any] | None) -> str | None:
    """The release deploy stamped on a workload's pod template (what a Deployment runs once
    rolled out, what a Job runs)."""
    template = ((workload or {}).get("spec") or {}).get("template") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    release = annotations.get(contract.RELEASE_ANNOTATION)
    return str(release) if release else None


@dataclass(frozen=True)
class ReleaseRollback:
    """Where a rollback of every service goes: one revision per Deployment, all of one release."""

    current: str | None
    target: str
    revisions: dict[str, int]  # Deployment -> revision to roll back to
    already: tuple[str, ...] = ()  # Deployments that run the target release already
    # The target was deployed after the release running now: a rollback undone with --to-release.
    newer: bool = False


def _current(name: str, history: Sequence[Revision]) -> Revision:
    current = next((r for r in history if r.current), None)
    if current is None:
        raise RuleError(f"deployment/{name} has no current revision in its rollout history")
    return current


def previous_release(histories: Mapping[str, Sequence[Revision]]) -> str:
    """The release before the one every Deployment runs now."""
    running = {name: _current(name, history).release for name, history in histories.items()}
    unstamped = sorted(name for name, release in running.items() if release is None)
    if unstamped:
        raise RuleError(
            f"{', '.join(unstamped)}: the current revision carries no {contract.RELEASE_ANNOTATION} "
            "annotation (deployed before releases were recorded), so the previous release is unknown; "
            "roll back one service at a time (rollback ENV SERVICE)"
        )
    releases_now = {release for release in running.values() if release is not None}
    if len(releases_now) > 1:
        listed = "; ".join(f"{name}: {release}" for name, release in sorted(running.items()))
        raise RuleError(
            f"the Deployments run different releases ({listed}); name the one to go to with "
            "--to-release, or roll back one service at a time"
        )
    now = releases_now.pop()
    # Each Deployment's history orders the releases it kept; a Deployment whose history was cut
    # short (revisionHistoryLimit) may offer an older one, which the others show to be older.
    older: dict[str, list[str]] = {}
    for name, history in histories.items():
        below = sorted((r for r in history if r.number < _current(name, history).number), key=lambda r: r.number)
        older[name] = [r.release for r in below if r.release is not None and r.release != now]
    candidates = {kept[-1] for kept in older.values() if kept}
    if not candidates:
        raise RuleError(f"no Deployment keeps a revision of a release before {now}; nothing to roll back to")
    newest = {c for c in candidates if not any(_after(kept, c, candidates) for kept in older.values())}
    if len(newest) != 1:
        listed = "; ".join(f"{name}: {kept[-1]}" for name, kept in sorted(older.items()) if kept)
        raise RuleError(f"the Deployments disagree on the release before {now} ({listed}); name it with --to-release")
    return newest.pop()


def _after(kept: list[str], release: str, candidates: set[str]) -> bool:
    """Whether this history shows another candidate newer than ``release``."""
    if release not in kept:
        return False
    last = len(kept) - 1 - kept[::-1].index(release)
    return any(r in candidates and r != release for r in kept[last + 1 :])


def release_rollback(histories: Mapping[str, Sequence[Revision]], to_release: str | None) -> ReleaseRollback:
    """Every Deployment to its newest revision of ``to_release`` (default: the previous release).

    Refuses, before anything changes, when any Deployment keeps no revision of that release:
    a partial rollback would leave the services on two releases.
    """
    target = to_release or previous_release(histories)
    revisions: dict[str, int] = {}
    already: list[str] = []
    missing: list[str] = []
    for name, history in histories.items():
        current = _current(name, history)
        if current.release == target:
            already.append(name)
            continue
        of_target = [r.number for r in history if r.release == target]
        if of_target:
            revisions[name] = max(of_target)
        else:
            missing.append(name)
    if missing:
        raise RuleError(
            f"no revision of release {target} is kept for {', '.join(missing)} "
            "(revisionHistoryLimit, or deployed before releases were recorded); nothing was changed. "
            "Deploy that release's commit instead, or roll back one service at a time"
        )
    running = {_current(name, history).release for name, history in histories.items()}
    newer = _deployed_later(histories, revisions)
    return ReleaseRollback(running.pop() if len(running) == 1 else None, target, revisions, tuple(already), newer)


def _deployed_later(histories: Mapping[str, Sequence[Revision]], revisions: Mapping[str, int]) -> bool:
    """Whether every Deployment's target revision first rolled out after its current one.

    Revision numbers cannot tell: a rollback renumbers the revision it goes back to as the newest.
    A ReplicaSet's creation time can, since a rollback scales the old ReplicaSet up again instead
    of making a new one. Unknown times count as older, the way a rollback goes."""
    later = []
    for name, number in revisions.items():
        history = histories[name]
        current = _current(name, history).created
        target = next((r.created for r in history if r.number == number), None)
        later.append(bool(current and target) and _instant(str(target)) > _instant(str(current)))
    return bool(later) and all(later)


def _instant(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def schema_note(current: Revision | None, target: Revision | None, *, newer: bool = False) -> str:
    """What a rollback does not undo: the database schema. Said before anything changes. To a
    ``newer`` release, what it does not do: run that release's migrations."""
    if newer:
        newer_release = (target.release if target else None) or "the newer release"
        newer_head = (target.schema_head if target else None) or "its head"
        return (
            f"Rollback runs no migration: {newer_release} was deployed at Alembic head {newer_head}, which the "
            "database reached then and keeps unless `leadgen db downgrade` ran since; if it did, run "
            f"`leadgen db upgrade` in a one-off pod of {newer_release} first."
        )
    release = (current.release if current else None) or "the running release"
    head = current.schema_head if current else None
    if head:
        said = f"Migrations are not rolled back: the database stays at Alembic head {head} ({release})."
    else:
        said = (
            f"Migrations are not rolled back, and {release} did not record its Alembic head "
            "(see `kubectl logs job/db-migrate`)."
        )
    goes_to = (target.release if target else None) or f"revision {target.number if target else '?'}"
    target_head = target.schema_head if target else None
    if head and target_head == head:
        return f"{said} {goes_to} was deployed at the same head."
    where = f" (deployed at head {target_head})" if target_head else ""
    downgrade = target_head or "<revision>"
    # Downgraded first, the schema would be older than the pods still running until the rollback
    # replaced them (each write of a column it dropped fails); and only the newer image knows the
    # revisions to go back through.
    return (
        f"{said} {goes_to}{where} must run on the newer schema, which expand/contract migrations "
        f"allow ({DOCS}): leave the schema there (the next deploy migrates on from it). Never downgrade "
        f"before rolling back; if a downgrade is really needed, roll back first, then run "
        f"`leadgen db downgrade {downgrade}` in a one-off pod of {release}'s image."
    )
