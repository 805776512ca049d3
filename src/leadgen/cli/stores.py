"""``leadgen graph`` and ``leadgen vectors``: the derived stores rebuilt from PostgreSQL after one lost its data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, Any, TypeVar

import typer

from leadgen.cli.output import JsonOption, configuration, emit, errors, fail
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.stores.embedding import word_key
from leadgen.stores.vectors.base import versioned_collection
from leadgen.targets.registry import DB, GRAPH, VECTORS

graph_app = typer.Typer(no_args_is_help=True, help="The graph of agents and lead identities (Neo4j or embedded).")
vectors_app = typer.Typer(no_args_is_help=True, help="Lead embeddings (Qdrant).")
T = TypeVar("T")
BATCH_SIZE = 500

BatchSizeOption = Annotated[
    int, typer.Option("--batch-size", min=1, max=10_000, help="Leads read and written per batch.")
]


def _rebuilt(settings: Settings, store: str, needs: frozenset[str], work: Callable[[Resources], Awaitable[T]]) -> T:
    """``work`` on the resources of ``needs``; a store that fails is one line naming it, not a traceback."""

    async def run() -> T:
        resources = Resources.build(settings, needs, "cli")
        try:
            return await work(resources)
        finally:
            await resources.close()

    try:
        return asyncio.run(run())
    except Exception as exc:
        raise fail(f"{store}: {type(exc).__name__}: {exc} (what was written stays; run the command again)") from None


def _progress(what: str) -> Callable[[int], None]:
    def told(done: int) -> None:
        errors.print(f"{done} leads {what}", markup=False)

    return told


@graph_app.command("rebuild")
def graph_rebuild(batch_size: BatchSizeOption = BATCH_SIZE, as_json: bool = JsonOption) -> None:
    """Rebuild the graph from PostgreSQL after it lost its data.

    Run it after a Neo4j volume was lost, or restored from an older snapshot. It writes the schema,
    every agent with their licences, and the identity links of every live lead received within the
    longest dedupe window, by which repeat leads are found. Idempotent; the platform may run
    meanwhile. Progress goes to standard error."""
    from leadgen.models.base import utcnow
    from leadgen.pipeline.rebuild import rebuild_graph

    needs = frozenset({DB, GRAPH})
    with configuration(needs) as settings:
        store = f"Neo4j at {settings.neo4j.uri}" if settings.neo4j.uri else "the embedded graph"

        async def work(resources: Resources) -> dict[str, object]:
            assert resources.graph is not None
            rebuilt = await rebuild_graph(
                resources.require_sessions(),
                settings,
                resources.graph,
                utcnow(),
                batch_size=batch_size,
                progress=_progress("linked"),
            )
            return {"store": store} | asdict(rebuilt)

        done = _rebuilt(settings, store, needs, work)
    emit(
        done,
        as_json,
        f"{store}: {done['agents']} agents, {done['leads']} leads received since {done['since']} linked, "
        f"{done['erased']} erased leads removed",
    )


@vectors_app.command("rebuild")
def vectors_rebuild(
    batch_size: BatchSizeOption = BATCH_SIZE,
    drop_other_versions: Annotated[
        bool,
        typer.Option(
            "--drop-other-versions",
            help="Then delete the collections of other embedding versions: once no process of an older "
            "release runs, they are of no use.",
        ),
    ] = False,
    as_json: bool = JsonOption,
) -> None:
    """Embed every live, screened lead again into this build's collection.

    The orchestrators and workers fill a collection they create by themselves (a new embedding
    version's, or one Qdrant lost); run this after Qdrant lost part of its data, or was restored
    from an older snapshot. Each lead's vector gets its outcome and agent as the pipeline keeps
    them. Idempotent; the platform may run meanwhile. Progress goes to standard error."""
    from leadgen.pipeline.rebuild import rebuild_vectors

    needs = frozenset({DB, VECTORS})
    with configuration(needs) as settings:
        where = f"Qdrant at {settings.qdrant.url}" if settings.qdrant.url else "Qdrant's local mode"
        where += f", collection {versioned_collection(settings.qdrant.collection)!r}"

        async def work(resources: Resources) -> dict[str, Any]:
            vectors = resources.vectors
            assert vectors is not None
            rebuilt = await rebuild_vectors(
                resources.require_sessions(),
                vectors,
                word_key=word_key(settings.security.pii_hash_key.get_secret_value()),
                batch_size=batch_size,
                progress=_progress("embedded"),
            )
            others = await vectors.other_versions()
            if drop_other_versions:
                for name in others:
                    await vectors.drop(name)
            return (
                {"store": where}
                | asdict(rebuilt)
                | {
                    "other_versions": others,
                    "dropped": others if drop_other_versions else [],
                }
            )

        done = _rebuilt(settings, where, needs, work)
    others: list[str] = done["other_versions"]
    message = f"{where}: {done['leads']} leads embedded, "
    message += f"{done['erased']} erased leads removed; collections of other embedding versions: "
    if not others:
        message += "none"
    else:
        fate = "dropped" if drop_other_versions else "kept (--drop-other-versions deletes them)"
        message += f"{', '.join(map(repr, others))}, {fate}"
    emit(done, as_json, message)
