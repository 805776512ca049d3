"""Neo4j behind ``GraphStore``, through the official async driver (``neo4j.AsyncGraphDatabase``).

Every statement is parameterised Cypher; writes use ``MERGE`` on uniquely constrained keys, so a
stage that runs twice changes nothing the second time. Multi-statement writes run in one managed
transaction (``execute_write``), which the driver retries on transient errors (leader switch,
deadlock). Deletions that depend on earlier ones (orphaned identities) run as a separate statement
of the same transaction rather than relying on same-statement visibility of deleted relationships.

No Neo4j server can be obtained on our development and CI machines (no internet, no image
registry): this adapter is exercised by ``tests/stores/test_graph_contract.py`` whenever
``LEADGEN_TEST_NEO4J_URI`` is set, with the same tests the embedded store passes on every run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import Any

from neo4j import AsyncDriver, AsyncGraphDatabase, AsyncManagedTransaction, RoutingControl

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

# Uniqueness constraints, by name: label and key. Each also creates the index every MERGE / MATCH by
# that key uses.
CONSTRAINTS = {
    "leadgen_agent_id": ("Agent", "id"),
    "leadgen_lead_id": ("Lead", "id"),
    "leadgen_identity_key": ("Identity", "key"),
    "leadgen_market_key": ("Market", "key"),
    "leadgen_state_code": ("State", "code"),
    "leadgen_line_name": ("Line", "name"),
    "leadgen_territory_name": ("Territory", "name"),
    "leadgen_carrier_name": ("Carrier", "name"),
}
SCHEMA = tuple(
    f"CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE n.{prop} IS UNIQUE"
    for name, (label, prop) in CONSTRAINTS.items()
)
# How long a transaction is tried again after a transient error or an unreachable server (waits of
# 1 s, then 2 s: a call to a server that is down fails after 2 to 4 s), and how long opening a
# connection may take. The driver's defaults are 30 s each, and a lead's screening holds its
# database transaction through every graph call.
RETRY_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 5.0

_UPSERT_AGENT = """
MERGE (a:Agent {id: $id})
SET a.name = $name, a.active = $active
WITH a
OPTIONAL MATCH (a)-[r:LICENSED_FOR|COVERS|APPOINTED_WITH]->()
DELETE r
"""
_ADD_LICENCES = """
MATCH (a:Agent {id: $id})
UNWIND $licences AS lic
MERGE (m:Market {key: lic.key})
  ON CREATE SET m.state = lic.state, m.line = lic.line
MERGE (s:State {code: lic.state})
MERGE (l:Line {name: lic.line})
MERGE (m)-[:IN_STATE]->(s)
MERGE (m)-[:OF_LINE]->(l)
MERGE (a)-[r:LICENSED_FOR]->(m)
SET r.expires_on = lic.expires_on
"""
_ADD_TERRITORIES = """
MATCH (a:Agent {id: $id})
UNWIND $names AS name
MERGE (t:Territory {name: name})
MERGE (a)-[:COVERS]->(t)
"""
_ADD_CARRIERS = """
MATCH (a:Agent {id: $id})
UNWIND $names AS name
MERGE (c:Carrier {name: name})
MERGE (a)-[:APPOINTED_WITH]->(c)
"""
_GET_AGENT = """
MATCH (a:Agent {id: $id})
RETURN a.name AS name, a.active AS active,
  [(a)-[r:LICENSED_FOR]->(m:Market) | {state: m.state, line: m.line, expires_on: r.expires_on}] AS licences,
  [(a)-[:COVERS]->(t:Territory) | t.name] AS territories,
  [(a)-[:APPOINTED_WITH]->(c:Carrier) | c.name] AS carriers
"""
_CANDIDATES = """
MATCH (:Market {key: $market})<-[r:LICENSED_FOR]-(a:Agent)
WHERE r.expires_on >= $day AND a.active = true
RETURN DISTINCT a.id AS id
ORDER BY id
"""
_MERGE_LEAD = """
MERGE (l:Lead {id: $id})
SET l.line = $line, l.state = $state, l.received_at = coalesce($received_at, l.received_at)
"""
_UNLINK_OTHER_IDENTITIES = """
MATCH (:Lead {id: $id})-[h:HAS]->(i:Identity)
WHERE NOT i.key IN $keys
DELETE h
RETURN collect(DISTINCT i.key) AS dropped
"""
_LINK_IDENTITIES = """
MATCH (l:Lead {id: $id})
UNWIND $identities AS ident
MERGE (i:Identity {key: ident.key})
  ON CREATE SET i.kind = ident.kind, i.hash = ident.hash
MERGE (l)-[:HAS]->(i)
"""
_DROP_ORPHANS = """
UNWIND $keys AS k
MATCH (i:Identity {key: k})
WHERE NOT EXISTS { (i)<-[:HAS]-(:Lead) }
DELETE i
"""
_DELETE_LEAD = """
MATCH (l:Lead {id: $id})
OPTIONAL MATCH (l)-[:HAS]->(i:Identity)
WITH l, collect(i.key) AS linked
DETACH DELETE l
RETURN linked
"""
_SHARED = """
MATCH (l:Lead {id: $id})-[:HAS]->(i:Identity)<-[:HAS]-(o:Lead)
WHERE o <> l AND i.kind IN $kinds
  AND ($line IS NULL OR o.line = $line)
  AND ($since IS NULL OR o.received_at >= $since)
WITH DISTINCT o
RETURN o.id AS id
ORDER BY o.received_at, o.id
"""


class GraphSchemaMissing(Exception):
    """The server answers, but the graph's constraints (and so the indexes its writes use) are missing."""


class Neo4jGraphStore:
    """``GraphStore`` on a Neo4j 5 server (or cluster, through a ``neo4j://`` URI)."""

    def __init__(self, driver: AsyncDriver, *, database: str | None = None) -> None:
        self._driver = driver
        self._database = database

    @classmethod
    def connect(
        cls,
        uri: str,
        user: str,
        password: str | None,
        *,
        database: str | None = None,
        retry_seconds: float = RETRY_SECONDS,
        connect_timeout_seconds: float = CONNECT_TIMEOUT_SECONDS,
    ) -> Neo4jGraphStore:
        """A store on ``uri`` (``bolt://host:7687`` or ``neo4j://...``); the driver connects lazily.

        A call fails after about ``retry_seconds`` while the server is unreachable."""
        auth = (user, password) if password is not None else None
        driver = AsyncGraphDatabase.driver(
            uri,
            auth=auth,
            connection_acquisition_timeout=10.0,
            connection_timeout=connect_timeout_seconds,
            max_transaction_retry_time=retry_seconds,
        )
        return cls(driver, database=database)

    async def _read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        result = await self._driver.execute_query(query, params, routing_=RoutingControl.READ, database_=self._database)
        return [record.data() for record in result.records]

    async def ensure_schema(self) -> None:
        for statement in SCHEMA:
            await self._driver.execute_query(statement, database_=self._database)

    async def upsert_agent(
        self,
        agent_id: Id,
        name: str,
        active: bool,
        licences: Sequence[tuple[str, str, date]],
        territories: Sequence[str] = (),
        carriers: Sequence[str] = (),
    ) -> None:
        params = {"id": key(agent_id), "name": name, "active": bool(active)}
        grants = [
            {"key": market_key(g.state, g.line), "state": g.state, "line": g.line, "expires_on": g.expires_on}
            for g in licences_of(licences)
        ]
        covers, appointed = names_of(territories), names_of(carriers)

        async def work(tx: AsyncManagedTransaction) -> None:
            await (await tx.run(_UPSERT_AGENT, params)).consume()
            if grants:
                await (await tx.run(_ADD_LICENCES, id=params["id"], licences=grants)).consume()
            if covers:
                await (await tx.run(_ADD_TERRITORIES, id=params["id"], names=covers)).consume()
            if appointed:
                await (await tx.run(_ADD_CARRIERS, id=params["id"], names=appointed)).consume()

        await self._write(work)

    async def get_agent(self, agent_id: Id) -> GraphAgent | None:
        rows = await self._read(_GET_AGENT, id=key(agent_id))
        if not rows:
            return None
        row = rows[0]
        licences = [LicenceGrant(lic["state"], lic["line"], _date(lic["expires_on"])) for lic in row["licences"]]
        return GraphAgent(
            id=key(agent_id),
            name=row["name"],
            active=bool(row["active"]),
            licences=sorted(licences),
            territories=sorted(row["territories"]),
            carriers=sorted(row["carriers"]),
        )

    async def remove_agent(self, agent_id: Id) -> None:
        await self._driver.execute_query(
            "MATCH (a:Agent {id: $id}) DETACH DELETE a", {"id": key(agent_id)}, database_=self._database
        )

    async def candidates(self, state: str, line: str, on: date) -> list[str]:
        rows = await self._read(_CANDIDATES, market=market_key(state, line), day=on)
        return [row["id"] for row in rows]

    async def link_lead(
        self,
        lead_id: Id,
        line: str,
        state: str,
        identities: Sequence[tuple[str, str]],
        *,
        received_at: datetime | None = None,
    ) -> None:
        wanted = [
            {"key": identity_key(kind, value), "kind": kind, "hash": value} for kind, value in identities_of(identities)
        ]
        lead = {"id": key(lead_id), "line": line.lower(), "state": state.upper(), "received_at": utc(received_at)}

        async def work(tx: AsyncManagedTransaction) -> None:
            await (await tx.run(_MERGE_LEAD, lead)).consume()
            record = await (
                await tx.run(_UNLINK_OTHER_IDENTITIES, id=lead["id"], keys=[w["key"] for w in wanted])
            ).single()
            dropped = record["dropped"] if record is not None else []
            if wanted:
                await (await tx.run(_LINK_IDENTITIES, id=lead["id"], identities=wanted)).consume()
            if dropped:
                await (await tx.run(_DROP_ORPHANS, keys=dropped)).consume()

        await self._write(work)

    async def duplicates_of(
        self,
        lead_id: Id,
        kinds: Sequence[str] = DUPLICATE_KINDS,
        line: str | None = None,
        *,
        since: datetime | None = None,
    ) -> list[str]:
        return await self._shared(lead_id, kinds_of(kinds), line, since)

    async def household_of(self, lead_id: Id) -> list[str]:
        return await self._shared(lead_id, ["address"], None, None)

    async def _shared(self, lead_id: Id, kinds: list[str], line: str | None, since: datetime | None) -> list[str]:
        if not kinds:
            return []
        rows = await self._read(
            _SHARED, id=key(lead_id), kinds=kinds, line=line.lower() if line else None, since=utc(since)
        )
        return [row["id"] for row in rows]

    async def forget_lead(self, lead_id: Id) -> None:
        async def work(tx: AsyncManagedTransaction) -> None:
            record = await (await tx.run(_DELETE_LEAD, id=key(lead_id))).single()
            if record is not None and record["linked"]:
                await (await tx.run(_DROP_ORPHANS, keys=record["linked"])).consume()

        await self._write(work)

    async def ping(self) -> None:
        """Also fails while the schema is not set up: a server that lost its data still answers."""
        result = await self._driver.execute_query(
            "SHOW CONSTRAINTS YIELD name", routing_=RoutingControl.READ, database_=self._database
        )
        missing = CONSTRAINTS.keys() - {record["name"] for record in result.records}
        if missing:
            raise GraphSchemaMissing(f"the graph's constraints {sorted(missing)} are missing: its schema is not set up")

    async def close(self) -> None:
        await self._driver.close()

    async def _write(self, work: Callable[[AsyncManagedTransaction], Awaitable[None]]) -> None:
        # The bookmark manager execute_query's reads use: on a cluster, a read right after this write
        # then waits for a member that has it.
        bookmarks = self._driver.execute_query_bookmark_manager
        async with self._driver.session(database=self._database, bookmark_manager=bookmarks) as session:
            await session.execute_write(work)


def _date(value: object) -> date:
    """A Cypher DATE as a ``datetime.date`` (the driver returns ``neo4j.time.Date``)."""
    to_native = getattr(value, "to_native", None)
    native = to_native() if callable(to_native) else value
    if not isinstance(native, date):
        raise TypeError(f"expected a date, got {value!r}")
    return native
