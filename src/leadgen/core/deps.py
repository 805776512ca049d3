"""FastAPI dependencies every target uses: settings, resources, one transaction per request.

They are ``async def`` even where they do not await: FastAPI runs plain functions in its thread
pool, which costs a thread hop per dependency per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.resources import Resources
from leadgen.core.settings import Settings


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(resources: Annotated[Resources, Depends(get_resources)]) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: commit when the endpoint returns, roll back on error."""
    async with resources.unit_of_work() as session:
        yield session


ResourcesDep = Annotated[Resources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
# "function": the transaction ends (commits) when the endpoint returns, before the answer starts
# out. FastAPI's default ends it after the response is sent, so a 202 could leave for a lead whose
# commit then failed.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
