"""Lead embeddings: one ``VectorStore`` interface, Qdrant server or qdrant-client local mode behind it."""

from __future__ import annotations

from leadgen.core.settings import Settings
from leadgen.stores.vectors.base import CONVERTED, Hit, VectorStore, normalise_payload, versioned_collection

__all__ = ["CONVERTED", "Hit", "VectorStore", "create_vector_store", "normalise_payload", "versioned_collection"]


def create_vector_store(settings: Settings) -> VectorStore:
    """The server when ``LEADGEN_QDRANT_URL`` is set, else local mode under the data directory.

    Nothing connects here; call ``await store.ensure_collection()`` at start-up and
    ``await store.close()`` at shutdown. Local mode shares one client per folder in the process,
    so every target of ``leadgen up`` may call this factory.
    """
    # Imported here: qdrant-client costs ~1.7 s and ~90 MB, paid only by targets that embed leads.
    from leadgen.stores.vectors.qdrant_store import QdrantVectorStore

    cfg = settings.qdrant
    if cfg.url is not None:
        api_key = cfg.api_key.get_secret_value() if cfg.api_key else None
        return QdrantVectorStore.open_server(
            str(cfg.url), cfg.collection, api_key=api_key, replication_factor=cfg.replication_factor
        )
    return QdrantVectorStore.open_local(settings.common.data_dir / "qdrant", cfg.collection)
