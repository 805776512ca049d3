"""Fixtures of the container tests: the image (built once per session) and the host's servers.

Under CI=true nothing here skips: a missing podman is installed by scripts/image/build-local.sh,
a missing server is a failure. On a laptop without root or without the servers the tests skip.
Each pytest process (a session, or each xdist worker of one) holds a slot for its whole run: an
image tag, a database and a Redis database of its own (harness.take_slot), so two checkouts
testing at once never test each other's image or data. Their container tests still take turns
through the host lock, since every target listens on its fixed port on the host network.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.image import harness

IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip on a developer's machine; under CI=true the same condition fails the test."""
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def host_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each container test holds the host lock while it runs (see harness.host_lock)."""
    if "image" not in request.fixturenames:
        yield
        return
    with harness.host_lock():
        yield


@pytest.fixture(scope="session")
def slot() -> Iterator[harness.Slot]:
    """This process's image tag, database and Redis database, held until the session ends."""
    with harness.take_slot() as taken:
        yield taken


@pytest.fixture(scope="session")
def image(slot: harness.Slot, tmp_path_factory: pytest.TempPathFactory) -> str:
    """ID of the app image of the current tree, built once per session by
    scripts/image/build-local.sh: a tag can be moved by another build, the ID cannot."""
    if os.environ.get("LEADGEN_IMAGE_TEST_SKIP_BUILD") == "1" and harness.podman_ready():
        return harness.image_id(harness.DEFAULT_IMAGE)  # an image the caller just built (bench, a debugging loop)
    if os.geteuid() != 0 and not harness.podman_ready():
        unavailable("the image tests need root (or a configured podman) to build and run the image")
    log = tmp_path_factory.mktemp("image") / "build.log"
    try:
        with harness.host_lock():
            return harness.image_id(harness.build_image(slot.image_tag, log))
    except harness.ImageError as exc:
        pytest.fail(f"building the image failed (full log: {log}):\n{exc}")


@pytest.fixture(scope="session")
def host_servers() -> None:
    for name, port in (("PostgreSQL", 5432), ("Redis", 6379)):
        if not harness.reachable("127.0.0.1", port):
            unavailable(f"{name} does not answer on 127.0.0.1:{port}")


@pytest.fixture(scope="session")
def migrated_slot(image: str, host_servers: None, slot: harness.Slot) -> Iterator[harness.Slot]:
    """The slot with its Redis database emptied and its database fresh, migrated by the image as
    the migration Job does; the database is dropped when the session ends."""
    harness.flush_redis(slot.redis_url)
    harness.recreate_database(slot.database)
    config = harness.target_config("api", db_url=slot.db_url, redis_url=slot.redis_url)
    harness.run_once(image, ["db", "upgrade"], config, "migrate")
    yield slot
    harness.drop_database(slot.database)
