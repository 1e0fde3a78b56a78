"""Helpers for the CLI tests: FakeAstria on a thread of its own, the CLI run in-process.

The CLI runs its own event loop (asyncio.run), so the fake cannot share the test's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from click.testing import CliRunner, Result

from astria_async.cli import cli
from astria_async.testing import FakeAstria

T = TypeVar("T")
ASTRIA = Path(sys.executable).with_name("astria")
# Keys and URLs from the developer's shell must not leak into the tests.
CLEAN_ENV: dict[str, str | None] = {name: None for name in (
    "ASTRIA_AUTH_TOKEN", "ASTRIA_API_KEY", "ASTRIA_BASE_URL", "WORKSPACE_ID",
    "ASTRIA_WORKSPACE_ID")}
QUICK = {"train_seconds": 0.3, "fast_train_seconds": 0.1, "prompt_seconds": 0.2}


class FakeThread:
    """A FakeAstria served from a background thread; `call` runs code on its loop."""

    def __init__(self, **options: Any) -> None:
        self.options = {**QUICK, **options}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._fake: FakeAstria | None = None

    def __enter__(self) -> FakeThread:
        self._thread.start()
        self._fake = self._submit(FakeAstria(**self.options).start())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._submit(self.fake.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _submit(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    @property
    def fake(self) -> FakeAstria:
        """The fake (use `call` to touch its state)."""
        assert self._fake is not None
        return self._fake

    @property
    def url(self) -> str:
        """Base URL."""
        return self.fake.url

    @property
    def api_key(self) -> str:
        """Accepted key."""
        return self.fake.api_key

    def call(self, fn: Callable[[FakeAstria], T]) -> T:
        """Run `fn(fake)` on the fake's loop thread (its state is not thread-safe)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(self.fake))
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(10)

    def count(self, method: str, pattern: str) -> int:
        """Requests seen, as `FakeAstria.count`."""
        return self.call(lambda f: f.count(method, pattern))

    def prompts(self) -> dict[int, dict[str, Any]]:
        """The fake's prompts now."""
        return self.call(lambda f: f.prompts)

    def env(self) -> dict[str, str]:
        """Environment for a subprocess of the CLI pointed at this fake."""
        env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
        return {**env, "ASTRIA_BASE_URL": self.url, "ASTRIA_API_KEY": self.api_key}

    def invoke(self, *args: str, env: Mapping[str, str | None] | None = None,
               input: str | None = None) -> Result:
        """Run `astria --base-url URL --api-key KEY ARGS...` in-process."""
        return run_cli("--base-url", self.url, "--api-key", self.api_key, *args, env=env,
                       input=input)


def run_cli(*args: str, env: Mapping[str, str | None] | None = None,
            input: str | None = None) -> Result:
    """Invoke the real click entry point with a clean environment."""
    return CliRunner().invoke(cli, list(args), env={**CLEAN_ENV, **(env or {})}, input=input,
                              catch_exceptions=False)


def stdout_json(result: Result) -> Any:
    """stdout parsed as one JSON document (fails if anything else is on stdout)."""
    assert result.stdout.strip(), f"no stdout; stderr: {result.stderr}"
    return json.loads(result.stdout)
