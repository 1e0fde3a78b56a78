"""The `astria` group: global options, the client factory, error handling."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import AstriaError
from ._output import Output

if TYPE_CHECKING:
    from .._client import AstriaClient
    from .._config import KeySource

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

KEY_HELP = ("no Astria API key: pass --api-key KEY, set ASTRIA_API_KEY (or ASTRIA_AUTH_TOKEN), "
            "or log in with Astria's CLI ({path}); find your key at "
            "https://www.astria.ai/users/edit/api")


@dataclass
class State:
    """The global options, shared by every command through the click context."""

    api_key: str | None = None
    base_url: str | None = None
    workspace: str | None = None
    profile: str | None = None
    verbose: int = 0
    poll_interval: float | None = None
    out: Output = field(default_factory=Output)

    def key(self) -> KeySource:
        """The API key and where it came from (a bad --profile is a usage error)."""
        from .._config import find_key

        try:
            return find_key(self.api_key, profile=self.profile)
        except AstriaError as exc:
            raise click.BadParameter(str(exc), param_hint="--profile") from None

    def has_key(self) -> bool:
        """True when an API key is given, in the environment or in the CLI config."""
        return self.key().key is not None

    def client(self, **kw: Any) -> AstriaClient:
        """A client for these options (imported here: aiohttp is slow to import)."""
        from .._client import AstriaClient
        from .._config import config_path
        from ..errors import ConfigurationError

        found = self.key()
        if not found.key:
            raise ConfigurationError(KEY_HELP.format(path=config_path(os.environ, self.profile)))
        if self.verbose:
            self.out.log(cli_terms(found.describe()))
        if self.poll_interval is not None:
            from ..waiting.policy import WaitPolicy

            first = self.poll_interval
            kw.setdefault("tune_wait", WaitPolicy.for_tunes(interval=first,
                                                            max_interval=max(first, 60.0)))
            kw.setdefault("prompt_wait", WaitPolicy.for_prompts(interval=first,
                                                                max_interval=max(first, 10.0)))
        return AstriaClient(self.api_key, base_url=self.base_url, workspace_id=self.workspace,
                            profile=self.profile, **kw)

    def run(self, fn: Callable[[AstriaClient], Awaitable[T]], **client_kw: Any) -> T:
        """Run `fn(client)` in a fresh event loop with a client that is closed afterwards."""

        async def go() -> T:
            async with self.client(**client_kw) as client:
                return await fn(client)

        return asyncio.run(go())


# Library hints that name Python calls, and the command that does the same.
_CLI_TERMS = (
    (re.compile(r"client\.prompts\.wait_images\((\d+)\)"), r"astria prompts wait \1"),
    (re.compile(r"client\.tunes\.wait_trained\((\d+)\)"), r"astria tunes get \1"),
)


# The fair-use guard's advice ("change it with AstriaClient(fair_use=FairUsePolicy(F=...)), or
# turn the guard off with AstriaClient(fair_use=None)"), and what a CLI user does instead:
# `batch run` has a flag for each bound; a single create has none, so it points there.
_FAIR_USE_HINT = re.compile(
    r"change it with AstriaClient\(fair_use=FairUsePolicy\((\w+)=\.\.\.\)\), or turn the "
    r"guard off with AstriaClient\(fair_use=None\)")
_BATCH_FLAGS = {"prompts_per_tune": "--fair-use-cap N", "max_in_flight": "--in-flight N",
                "max_in_flight_per_tune": "--in-flight-per-tune N"}
_IMAGES_HINT = "ask for fewer images per prompt"
_IDEMPOTENT_HINT = re.compile(
    r" Enable idempotency in your Astria API settings and pass AstriaClient\(idempotent=True\) "
    r"to have it retried safely\.")


def _fair_use_hint(match: re.Match[str], batch: bool) -> str:
    field = match.group(1)
    if batch:
        flag = _BATCH_FLAGS.get(field)
        change = (f"change it with {flag}" if flag is not None
                  else f"{_IMAGES_HINT} (num_images in the job file)")
        return f"{change}, or turn the guard off with --no-fair-use"
    if field == "max_images":
        return f"{_IMAGES_HINT} (--num-images)"
    if field == "prompts_per_tune":
        return ("for an agreed higher limit, send the prompts with `astria batch run "
                "--fair-use-cap N` (or `--no-fair-use`)")
    return (f"wait for prompts to finish (`astria prompts list`), or send many with "
            f"`astria batch run {_BATCH_FLAGS.get(field, '--in-flight N')}`")


def cli_terms(text: str, *, batch: bool = False) -> str:
    """A library message in the CLI's words (`--api-key`, not `the api_key argument`;
    `astria prompts wait 1`, not `client.prompts.wait_images(1)`; flags, not `AstriaClient`
    options). `batch`: the message is shown by `batch run`, whose flags it may name."""
    from .._config import KEY_ARGUMENT

    text = text.replace(KEY_ARGUMENT, "--api-key")
    for pattern, command in _CLI_TERMS:
        text = pattern.sub(command, text)
    text = _FAIR_USE_HINT.sub(lambda m: _fair_use_hint(m, batch), text)
    # A 504 on a create: the CLI has no idempotency switch; `batch run` looks it up itself.
    return _IDEMPOTENT_HINT.sub("" if batch else (
        " Look for it (`astria prompts list`, `astria tunes list`) before running the "
        "command again; `astria batch run` looks such creates up by itself."), text)


class PositiveId(click.types.IntParamType):
    """An object id: a positive integer (`-5` and `0` are refused with a reason)."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        """The id as an int."""
        if isinstance(value, bool) or not (isinstance(value, int)
                                           or str(value).strip().lstrip("-").isdigit()):
            self.fail(f"an id is a positive integer, got {value!r}", param, ctx)
        number = int(value)
        if number < 1:
            self.fail(f"an id must be positive, got {number}", param, ctx)
        return number


ID = PositiveId()


def one_line(exc: BaseException) -> str:
    """An error as one line: the first line of its message, named by its class."""
    text = cli_terms(str(exc)).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def error_object(exc: BaseException, message: str) -> dict[str, Any]:
    """`{"error": {"type", "message", "status", "field"}}`: an error for `--json` readers."""
    field = getattr(exc, "field", None)
    if isinstance(exc, click.BadParameter):
        field = exc.param_hint if isinstance(exc.param_hint, str) else (
            exc.param.opts[0] if exc.param is not None and exc.param.opts else None)
    status = getattr(exc, "status", None)
    return {"error": {"type": type(exc).__name__, "message": message,
                      "status": status if isinstance(status, int) else None,
                      "field": field if isinstance(field, str) else None}}


class JsonError(click.ClickException):
    """An error shown as one JSON object on stdout (`--json`), keeping its exit status."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload["error"]["message"])
        self.payload = payload

    def show(self, file: Any = None) -> None:
        """On stdout, where a script reading the result looks (logs stay on stderr)."""
        sys.stdout.write(json.dumps(self.payload, ensure_ascii=False) + "\n")
        sys.stdout.flush()


class JsonUsageError(JsonError):
    """A usage error (exit status 2) shown as JSON."""

    exit_code = 2


class Group(click.Group):
    """A group that turns library errors into one clear line and exit status 1 (or, with
    --json, one JSON object on stdout)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return self._invoke(ctx)
        except click.NoSuchOption as exc:
            # `astria prompts get -5`: click takes a negative number for an option.
            if not re.fullmatch(r"-\d+", exc.option_name):
                raise self._as_json(ctx, exc) from None
            bad = click.BadParameter(f"an id must be positive, got {exc.option_name}",
                                     ctx=exc.ctx, param_hint="ID")
            raise self._as_json(ctx, bad) from None
        except click.ClickException as exc:
            raise self._as_json(ctx, exc) from None

    @staticmethod
    def _as_json(ctx: click.Context, exc: click.ClickException) -> click.ClickException:
        """`exc` as a JSON object on stdout in --json mode (unless a result is out already)."""
        obj = ctx.find_object(State)
        if obj is None or not obj.out.json or obj.out.emitted or isinstance(exc, JsonError):
            return exc
        cause = exc.__cause__ if isinstance(exc.__cause__, (AstriaError, OSError)) else exc
        message = (cli_terms(str(cause)) if isinstance(cause, AstriaError)
                   else exc.format_message())
        kind = JsonUsageError if exc.exit_code == 2 else JsonError
        return kind(error_object(cause, message))

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AstriaError as exc:
            raise click.ClickException(one_line(exc)) from exc
        except OSError as exc:  # unreadable files, full disks: no traceback for those
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(
                ": ")) from exc


def stdin_is_terminal() -> bool:
    """True when a person can answer a question (scripts and pipes are never asked)."""
    return sys.stdin.isatty()


def confirm_paid(out: Output, yes: bool, price: str | None = None) -> None:
    """Say what a paid tune costs; on a terminal, ask first (unless `yes`)."""
    from .._config import TUNE_PRICE_MC

    price = price or (f"a paid tune: about ${TUNE_PRICE_MC / 100_000:.2f} (Astria's published "
                      "price for a training; your plan may differ); --fast makes a free mock "
                      "tune for testing")
    if yes or not stdin_is_terminal():
        out.log(f"creating {price}")
        return
    click.confirm(f"This creates {price}. Create it?", abort=True, err=True)


def state(ctx: click.Context) -> State:
    """The `State` of the running command."""
    obj = ctx.find_object(State)
    if obj is None:  # a command invoked on its own (tests): defaults from the environment
        obj = ctx.ensure_object(State)
    return obj


def _set_json(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if value:
        state(ctx).out.json = True


def json_option(fn: F) -> F:
    """`--json` after the command name too (`astria tunes list --json`)."""
    return click.option("--json", "as_json", is_flag=True, expose_value=False,
                        callback=_set_json, is_eager=True,
                        help="Print JSON on stdout (logs stay on stderr).")(fn)


def key_values(pairs: Sequence[str], what: str) -> list[tuple[str, str]]:
    """`k=v` arguments as pairs; a missing `=` is a usage error."""
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint=what)
        out.append((key, value))
    return out


def json_value(text: str) -> Any:
    """A `k=v` value: JSON when it parses (numbers, true, lists), the plain string otherwise."""
    try:
        return json.loads(text)
    except ValueError:
        return text


class _CliHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The CLI's log handler, on stderr (one per logger, replaced on each run)."""


def setup_logging(verbose: int) -> None:
    """-v logs each request to stderr, -vv adds retries and debug detail."""
    logger = logging.getLogger("astria_async")
    for handler in [h for h in logger.handlers if isinstance(h, _CliHandler)]:
        logger.removeHandler(handler)
    if verbose:
        handler = _CliHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        logger.propagate = False  # one line per record, whatever the root logger does
