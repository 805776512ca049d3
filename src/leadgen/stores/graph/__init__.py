"""Agents, licences and lead identity links: one ``GraphStore`` interface, Neo4j or embedded behind it."""

from __future__ import annotations

from leadgen.core.settings import Settings
from leadgen.stores.graph.base import (
    DUPLICATE_KINDS,
    IDENTITY_KINDS,
    GraphAgent,
    GraphStore,
    IdentityKey,
    LicenceGrant,
)

__all__ = [
    "DUPLICATE_KINDS",
    "IDENTITY_KINDS",
    "GraphAgent",
    "GraphStore",
    "IdentityKey",
    "LicenceGrant",
    "create_graph_store",
]

EMBEDDED_FILE = "graph.sqlite3"


def create_graph_store(settings: Settings) -> GraphStore:
    """Neo4j when ``LEADGEN_NEO4J_URI`` is set, else the embedded graph in ``<data_dir>/graph.sqlite3``.

    Nothing connects here; call ``await store.ensure_schema()`` at start-up and
    ``await store.close()`` at shutdown.
    """
    # Imported here: the Neo4j driver is only loaded where a Neo4j server is configured.
    cfg = settings.neo4j
    if cfg.uri:
        from leadgen.stores.graph.neo4j_store import Neo4jGraphStore

        password = cfg.password.get_secret_value() if cfg.password else None
        return Neo4jGraphStore.connect(
            cfg.uri,
            cfg.user,
            password,
            retry_seconds=cfg.retry_seconds,
            connect_timeout_seconds=cfg.connect_timeout_seconds,
        )
    from leadgen.stores.graph.embedded import EmbeddedGraphStore

    return EmbeddedGraphStore(settings.common.data_dir / EMBEDDED_FILE)
