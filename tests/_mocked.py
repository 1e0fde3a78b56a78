"""A client on the fake clock against aioresponses (the `mocked` and `ft` fixtures of
conftest), shared by the wait tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from _faketime import FakeTime
from aioresponses import aioresponses
from yarl import URL

from astria_async import AstriaClient, WaitPolicy

API = "https://api.astria.ai"

__all__ = ["API", "gets", "mocked_client"]


@contextlib.asynccontextmanager
async def mocked_client(ft: FakeTime, policy: WaitPolicy,
                        **options: Any) -> AsyncIterator[AstriaClient]:
    """A client whose prompt waits follow `policy` on `ft`'s clock (fair use off)."""
    async with AstriaClient("sd_key", base_url=API, prompt_wait=policy, clock=ft.clock,
                            sleep=ft.sleep, fair_use=None, **options) as client:
        yield client


def gets(m: aioresponses, path: str) -> int:
    """How many GETs of `path` were made."""
    return len(m.requests.get(("GET", URL(API + path)), []))
