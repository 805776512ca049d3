"""The embedded graph: the ``GraphStore`` model in a SQLite file, for ``leadgen up`` on a laptop.

Two generic tables hold the property graph - ``nodes(label, key, props JSON)`` and
``edges(src, type, dst, props JSON)`` - with the same labels, relationship types and properties as
the Neo4j store (see ``graph.base``), so both answer every question alike and the contract suite
can hold them to it. The graph lives in ``<data_dir>/graph.sqlite3`` and survives restarts.

One connection per store, used from a worker thread (``asyncio.to_thread``) under a lock, so one
store can be shared by every thread and task of a process without blocking an event loop. Writes run
in ``BEGIN IMMEDIATE`` transactions with WAL and a busy timeout, so several stores (or processes)
on one file wait for each other instead of failing. ``synchronous=NORMAL``: a power cut may lose the
last commits, never corrupt the file - acceptable for a graph rebuilt from the relational database.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from leadgen.core.sqlite import configure_connection
from leadgen.stores.graph.base import (
    DUPLICATE_KINDS,
    GraphAgent,
    Id,
    LicenceGrant,
    identities_of,
    identity_key,
    key,
    kinds_of,
    licences_of,
    market_key,
    names_of,
    utc,
)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    key TEXT NOT NULL,
    props TEXT NOT NULL DEFAULT '{}',
    UNIQUE (label, key)
);
CREATE TABLE IF NOT EXISTS edges (
    src INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    dst INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    props TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (src, type, dst)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_edges_dst_type ON edges (dst, type);
"""
# Fixed width, so that string order is time order.
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class EmbeddedGraphStore:
    """``GraphStore`` in a SQLite file (stdlib ``sqlite3``)."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 10000) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    # -- plumbing -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the graph store is closed")
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE for writes).
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            configure_connection(conn.execute, busy_timeout_ms=self._busy_timeout_ms)
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def _transaction(self, work: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._transaction, work, write=True)

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._transaction, work, write=False)

    # -- interface ----------------------------------------------------------------------------

    async def ensure_schema(self) -> None:
        await self._read(lambda conn: None)  # connecting creates the tables

    async def upsert_agent(
        self,
        agent_id: Id,
        name: str,
        active: bool,
        licences: Sequence[tuple[str, str, date]],
        territories: Sequence[str] = (),
        carriers: Sequence[str] = (),
    ) -> None:
        grants = licences_of(licences)
        covers, appointed = names_of(territories), names_of(carriers)

        def work(conn: sqlite3.Connection) -> None:
            agent = _node(conn, "Agent", key(agent_id), {"name": name, "active": bool(active)})
            conn.execute(
                "DELETE FROM edges WHERE src = ? AND type IN ('LICENSED_FOR', 'COVERS', 'APPOINTED_WITH')", (agent,)
            )
            for grant in grants:
                market = _node(
                    conn, "Market", market_key(grant.state, grant.line), {"state": grant.state, "line": grant.line}
                )
                _edge(conn, market, "IN_STATE", _node(conn, "State", grant.state, {"code": grant.state}))
                _edge(conn, market, "OF_LINE", _node(conn, "Line", grant.line, {"name": grant.line}))
                _edge(conn, agent, "LICENSED_FOR", market, {"expires_on": grant.expires_on.isoformat()})
            for territory in covers:
                _edge(conn, agent, "COVERS", _node(conn, "Territory", territory, {"name": territory}))
            for carrier in appointed:
                _edge(conn, agent, "APPOINTED_WITH", _node(conn, "Carrier", carrier, {"name": carrier}))

        await self._write(work)

    async def get_agent(self, agent_id: Id) -> GraphAgent | None:
        def work(conn: sqlite3.Connection) -> GraphAgent | None:
            row = conn.execute(
                "SELECT id, props FROM nodes WHERE label = 'Agent' AND key = ?", (key(agent_id),)
            ).fetchone()
            if row is None:
                return None
            node, props = row[0], json.loads(row[1])
            licences = [
                LicenceGrant(state, line, date.fromisoformat(expires))
                for state, line, expires in conn.execute(
                    "SELECT json_extract(m.props, '$.state'), json_extract(m.props, '$.line'),"
                    " json_extract(e.props, '$.expires_on') FROM edges e JOIN nodes m ON m.id = e.dst"
                    " WHERE e.src = ? AND e.type = 'LICENSED_FOR'",
                    (node,),
                )
            ]
            return GraphAgent(
                id=key(agent_id),
                name=props["name"],
                active=bool(props["active"]),
                licences=sorted(licences),
                territories=_targets(conn, node, "COVERS"),
                carriers=_targets(conn, node, "APPOINTED_WITH"),
            )

        return await self._read(work)

    async def remove_agent(self, agent_id: Id) -> None:
        await self._write(
            lambda conn: conn.execute("DELETE FROM nodes WHERE label = 'Agent' AND key = ?", (key(agent_id),))
        )

    async def candidates(self, state: str, line: str, on: date) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT DISTINCT a.key FROM nodes m"
                " JOIN edges e ON e.dst = m.id AND e.type = 'LICENSED_FOR'"
                " JOIN nodes a ON a.id = e.src AND a.label = 'Agent'"
                " WHERE m.label = 'Market' AND m.key = ?"
                " AND json_extract(e.props, '$.expires_on') >= ?"
                " AND json_extract(a.props, '$.active') = 1"
                " ORDER BY a.key",
                (market_key(state, line), on.isoformat()),
            )
            return [row[0] for row in rows]

        return await self._read(work)

    async def link_lead(
        self,
        lead_id: Id,
        line: str,
        state: str,
        identities: Sequence[tuple[str, str]],
        *,
        received_at: datetime | None = None,
    ) -> None:
        wanted = identities_of(identities)
        at = utc(received_at)

        def work(conn: sqlite3.Connection) -> None:
            props: dict[str, Any] = {"line": line.lower(), "state": state.upper()}
            if at is not None:
                props["received_at"] = at.strftime(_TIME_FORMAT)
            else:  # keep what an earlier link recorded
                row = conn.execute(
                    "SELECT json_extract(props, '$.received_at') FROM nodes WHERE label = 'Lead' AND key = ?",
                    (key(lead_id),),
                ).fetchone()
                if row is not None and row[0] is not None:
                    props["received_at"] = row[0]
            lead = _node(conn, "Lead", key(lead_id), props)
            keep = {
                _node(conn, "Identity", identity_key(kind, value), {"kind": kind, "hash": value})
                for kind, value in wanted
            }
            before = {row[0] for row in conn.execute("SELECT dst FROM edges WHERE src = ? AND type = 'HAS'", (lead,))}
            dropped = before - keep
            for identity in dropped:
                conn.execute("DELETE FROM edges WHERE src = ? AND type = 'HAS' AND dst = ?", (lead, identity))
            for identity in keep - before:
                _edge(conn, lead, "HAS", identity)
            _drop_orphan_identities(conn, dropped)

        await self._write(work)

    async def duplicates_of(
        self,
        lead_id: Id,
        kinds: Sequence[str] = DUPLICATE_KINDS,
        line: str | None = None,
        *,
        since: datetime | None = None,
    ) -> list[str]:
        return await self._shared(lead_id, kinds_of(kinds), line, utc(since))

    async def household_of(self, lead_id: Id) -> list[str]:
        return await self._shared(lead_id, ["address"], None, None)

    async def _shared(self, lead_id: Id, kinds: list[str], line: str | None, since: datetime | None) -> list[str]:
        if not kinds:
            return []
        sql = (
            "SELECT o.key, json_extract(o.props, '$.received_at') AS r FROM nodes l"
            " JOIN edges h ON h.src = l.id AND h.type = 'HAS'"
            " JOIN nodes i ON i.id = h.dst AND i.label = 'Identity'"
            " JOIN edges h2 ON h2.dst = i.id AND h2.type = 'HAS'"
            " JOIN nodes o ON o.id = h2.src AND o.label = 'Lead'"
            " WHERE l.label = 'Lead' AND l.key = ? AND o.id <> l.id"
            " AND json_extract(i.props, '$.kind') IN (SELECT value FROM json_each(?))"
        )
        params: list[Any] = [key(lead_id), json.dumps(kinds)]
        if line is not None:
            sql += " AND json_extract(o.props, '$.line') = ?"
            params.append(line.lower())
        if since is not None:
            sql += " AND json_extract(o.props, '$.received_at') >= ?"
            params.append(since.strftime(_TIME_FORMAT))
        sql += " GROUP BY o.id ORDER BY r IS NULL, r, o.key"

        def work(conn: sqlite3.Connection) -> list[str]:
            return [row[0] for row in conn.execute(sql, params)]

        return await self._read(work)

    async def forget_lead(self, lead_id: Id) -> None:
        def work(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT id FROM nodes WHERE label = 'Lead' AND key = ?", (key(lead_id),)).fetchone()
            if row is None:
                return
            linked = {r[0] for r in conn.execute("SELECT dst FROM edges WHERE src = ? AND type = 'HAS'", (row[0],))}
            conn.execute("DELETE FROM nodes WHERE id = ?", (row[0],))  # edges go by ON DELETE CASCADE
            _drop_orphan_identities(conn, linked)

        await self._write(work)

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        def shut() -> None:
            with self._lock:
                self._closed = True
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        await asyncio.to_thread(shut)


def _node(conn: sqlite3.Connection, label: str, node_key: str, props: dict[str, Any]) -> int:
    """MERGE by (label, key), setting ``props``; the node's row id."""
    row = conn.execute(
        "INSERT INTO nodes (label, key, props) VALUES (?, ?, ?)"
        " ON CONFLICT (label, key) DO UPDATE SET props = excluded.props RETURNING id",
        (label, node_key, json.dumps(props, sort_keys=True)),
    ).fetchone()
    return int(row[0])


def _edge(conn: sqlite3.Connection, src: int, kind: str, dst: int, props: dict[str, Any] | None = None) -> None:
    """MERGE the edge, setting ``props``."""
    conn.execute(
        "INSERT INTO edges (src, type, dst, props) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (src, type, dst) DO UPDATE SET props = excluded.props",
        (src, kind, dst, json.dumps(props or {}, sort_keys=True)),
    )


def _targets(conn: sqlite3.Connection, node: int, kind: str) -> list[str]:
    rows = conn.execute(
        "SELECT json_extract(t.props, '$.name') FROM edges e JOIN nodes t ON t.id = e.dst"
        " WHERE e.src = ? AND e.type = ? ORDER BY 1",
        (node, kind),
    )
    return [row[0] for row in rows]


def _drop_orphan_identities(conn: sqlite3.Connection, identities: set[int]) -> None:
    for identity in identities:
        conn.execute(
            "DELETE FROM nodes WHERE id = ? AND label = 'Identity'"
            " AND NOT EXISTS (SELECT 1 FROM edges WHERE dst = ? AND type = 'HAS')",
            (identity, identity),
        )
