"""What the resource classes share: their services, the paginator, the board's API source."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Mapping
from typing import Any, Generic, TypeVar

import attrs

from .._config import PAGE_LIMIT
from .._convert import structure
from .._fields_repr import fields_repr
from .._http import Transport
from .._routing import TuneRoutes
from ..download import Downloader
from ..errors import APIResponseValidationError, InvalidParamsError
from ..models import Binding, Prompt, Tune
from ..waiting.board import Board
from ..waiting.fairuse import FairUse
from ..waiting.policy import WaitPolicy
from ._catalogue import Catalogue

T = TypeVar("T")
M = TypeVar("M")
K = TypeVar("K", Tune, Prompt)

@attrs.frozen(eq=False)
class Services:
    """What the resource classes use, built by the client (the composition root)."""

    __repr__ = fields_repr

    transport: Transport
    tune_board: Board[Tune]
    prompt_board: Board[Prompt]
    tune_wait: WaitPolicy
    prompt_wait: WaitPolicy
    fair_use: FairUse
    downloader: Downloader
    binding: Binding  # what returned models are bound to (the client), for `tune.wait_trained()`
    # The model catalogue of this client (model names where a tune id goes).
    catalogue: Catalogue = attrs.field(
        default=attrs.Factory(lambda self: Catalogue(self.transport), takes_self=True))
    routes: TuneRoutes = attrs.field(factory=TuneRoutes)

    def seen(self, tune: Tune, *, gallery: bool = False) -> None:
        """Note a tune from the API: fair use (fast, gallery) and prompt routing (LoRA/FaceID)."""
        self.fair_use.remember(tune, gallery=gallery)
        self.routes.remember(tune)

    def wait_policy(self, kind: str, policy: WaitPolicy | None,
                    timeout: float | None) -> WaitPolicy:
        """The policy of one wait: `policy` or the kind's default, with `timeout` if given."""
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(
                timeout, (int, float)) or not timeout > 0):
            raise InvalidParamsError("timeout", f"must be a number of seconds > 0, got "
                                                f"{timeout!r}")
        base = policy or (self.tune_wait if kind == "tune" else self.prompt_wait)
        return base.with_timeout(timeout)


class Resource:
    """Base of `client.tunes`, `client.prompts` and `client.packs`."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._transport = services.transport
        self._binding = services.binding

    async def _tune_id(self, value: Any, field: str = "tune_id") -> int:
        """A tune id from an int, a model with `.id`, or a catalogue name such as "gemini"."""
        if isinstance(value, str):
            return await self._services.catalogue.resolve(field, value)
        return ident(value, field)

    def _wait(self, board: Board[K], obj: Any, model: type[K], policy: WaitPolicy | None,
              timeout: float | None, on_update: Callable[[K], None] | None,
              failure: Callable[[K], BaseException | None] | None = None,
              ) -> Coroutine[Any, Any, K]:
        """The coroutine of one wait on `board` (`wait_images`, `wait_trained`).

        Those two are plain functions answering the board's own coroutine, not `async def`s
        awaiting it: one coroutine fewer a wait, out of ~10 objects every full collection of
        the garbage collector walks with 100,000 waiting. Bad arguments still raise when the
        answer is awaited, as they did from an `async def`.
        """
        kind = "tune" if model is Tune else "prompt"
        try:
            oid, pol, initial = self._wait_target(obj, model, kind, policy, timeout)
        except InvalidParamsError as exc:
            return _raising(exc)
        return board.wait(oid, pol, initial, on_update, failure)

    def _wait_target(self, obj: Any, model: type[M], kind: str, policy: WaitPolicy | None,
                     timeout: float | None) -> tuple[int, WaitPolicy, M | None]:
        """What a wait or watch needs: the id, the policy in force and the state in hand."""
        oid = ident(obj, f"{kind}_id")
        initial = obj if isinstance(obj, model) else None
        return oid, self._services.wait_policy(kind, policy, timeout), initial


async def _raising(exc: BaseException) -> Any:
    raise exc


class ApiSource(Generic[K]):
    """How a board fetches one kind over the API: `GET /<kind>s/:id` and the newest-first list.

    Requests are sent without transport retries: the board's next tick is the retry, and a
    429 must reach the board so that it pauses every waiter, not just one request.
    """

    def __init__(self, transport: Transport, cls: type[K], binding: Binding) -> None:
        self._transport = transport
        self._cls: type[K] = cls
        self._binding = binding
        self.kind = "tune" if cls is Tune else "prompt"

    async def one(self, oid: int) -> K:
        """The object with id `oid`."""
        reply = await self._transport.request("GET", f"/{self.kind}s/{oid}", retries=0)
        return structure(reply.data, self._cls, self._binding)

    async def page(self, before_id: int | None,
                   parent: int | None = None) -> list[Mapping[str, Any]]:
        """The raw items of one list page, newest first, below `before_id` when given.

        With `parent`, the list of that tune's own prompts (`GET /tunes/:id/prompts`).
        """
        params = [("limit", str(PAGE_LIMIT))]
        if before_id is not None:
            params.append(("before_id", str(before_id)))
        path = f"/{self.kind}s" if parent is None else f"/tunes/{parent}/{self.kind}s"
        reply = await self._transport.request("GET", path, params=params, retries=0)
        return as_list(reply.data, self.kind)

    def build(self, item: Any) -> K:
        """The model of one list item (`APIResponseValidationError` if it cannot be read)."""
        return structure(item, self._cls, self._binding)


def ident(value: Any, field: str) -> int:
    """An object id from an int or a model with `.id`, checked before anything is sent."""
    value = getattr(value, "id", value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidParamsError(field, f"must be a positive integer id, got {value!r}")
    return value


def first_object(data: Any, what: str) -> Mapping[str, Any]:
    """A create's answer; a JSON array yields its first element, as Astria's CLI guards for."""
    if isinstance(data, list):
        data = data[0] if data else None
    if not isinstance(data, Mapping):
        raise APIResponseValidationError(
            f"expected a {what} object in the answer, got {type(data).__name__}", body=data)
    return data


def as_list(data: Any, what: str) -> list[Mapping[str, Any]]:
    """A list endpoint's answer: a bare JSON array (API notes §1.1)."""
    if not isinstance(data, list):
        raise APIResponseValidationError(
            f"expected a JSON array of {what}s, got {type(data).__name__}", body=data)
    return data


def query(**params: Any) -> list[tuple[str, str]]:
    """Query pairs: None dropped, booleans as true/false, lists repeated as `key[]`."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            pairs.extend((f"{key}[]", str(item)) for item in value)
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))
    return pairs


def check_page(limit: int | None, offset: int | None, max_offset: int,
               max_limit: int = PAGE_LIMIT) -> None:
    """Refuse page sizes and offsets the server would reject, before sending."""
    if limit is not None and (isinstance(limit, bool) or not 1 <= limit <= max_limit):
        raise InvalidParamsError(
            "limit", f"must be an integer from 1 to {max_limit}, got {limit!r}")
    if offset is not None and (isinstance(offset, bool) or not 0 <= offset <= max_offset):
        raise InvalidParamsError(
            "offset", f"must be from 0 to {max_offset} (Astria answers 400 beyond it); "
            f"page with before_id instead, got {offset!r}")


class Paginator(Generic[T]):
    """`await` it for one page; `async for` it to walk every page newest first with before_id."""

    def __init__(self, fetch: Callable[[dict[str, Any]], Awaitable[list[T]]],
                 params: dict[str, Any], *, id_of: Callable[[T], int] | None = None) -> None:
        self._fetch = fetch
        self._params = params
        # None: the endpoint has no keyset paging, so iteration yields the single page.
        self._id_of = id_of

    def __await__(self) -> Generator[Any, None, list[T]]:
        return self._fetch(dict(self._params)).__await__()

    async def __aiter__(self) -> AsyncIterator[T]:
        params = dict(self._params)
        if self._id_of is not None:
            # Walking everything: the largest page the API allows.
            params["limit"] = params.get("limit") or PAGE_LIMIT
        while True:
            page = await self._fetch(dict(params))
            for item in page:
                yield item
            if not page or self._id_of is None:
                return
            # Newest first: the next page holds ids below the last one (API notes §3.1).
            # An offset applies to the first page only; deep offsets answer 400.
            params["before_id"] = self._id_of(page[-1])
            params.pop("offset", None)
