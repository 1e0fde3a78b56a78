"""The exception tree: every error this library raises is an `AstriaError`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class AstriaError(Exception):
    """Root of every error raised by astria_async."""


class ConfigurationError(AstriaError, ValueError):
    """The client is missing a setting it needs (for example the API key)."""


class ClientClosedError(AstriaError, RuntimeError):
    """The client was used after `aclose()` (or after its `async with` block ended)."""


class InvalidParamsError(AstriaError, ValueError):
    """A parameter failed local validation; no request was sent."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class APIResponseValidationError(AstriaError):
    """The server answered with a body that cannot be what the endpoint returns."""

    def __init__(self, message: str, *, field: str | None = None, body: Any = None) -> None:
        self.field = field
        self.body = body
        super().__init__(message)


class APIConnectionError(AstriaError):
    """No usable HTTP answer came back (connection refused, reset, DNS failure)."""

    def __init__(self, message: str, *, method: str = "", path: str = "",
                 sent: bool = True) -> None:
        self.method = method
        self.path = path
        # False only when the request provably never left this machine (connect failed).
        self.sent = sent
        super().__init__(message)


class APITimeoutError(APIConnectionError, TimeoutError):
    """The request timed out on this side; the server may still have processed it."""


class APIStatusError(AstriaError):
    """The server answered with a non-success HTTP status."""

    status_code: ClassVar[int | None] = None

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        method: str = "",
        path: str = "",
        note: str = "",
    ) -> None:
        self.status = status
        self.message = message  # the server's own words
        self.body = body
        self.headers: Mapping[str, str] = dict(headers or {})
        self.method = method
        self.path = path
        where = f" ({method} {path})" if method else ""
        # `note`: what this side adds, e.g. where the key of a 401 came from.
        super().__init__(f"HTTP {status}{where}: {message}" + (f" ({note})" if note else ""))


class BadRequestError(APIStatusError):
    """400: usually a pagination offset beyond Astria's caps (use `before_id`)."""

    status_code = 400


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""

    status_code = 401


class PermissionDeniedError(APIStatusError):
    """403: the key may not touch this object or workspace."""

    status_code = 403


class NotFoundError(APIStatusError):
    """404: no such object, or it belongs to someone else (or another tune in a nested URL)."""

    status_code = 404


class ConflictError(APIStatusError):
    """409: the request conflicts with the object's current state."""

    status_code = 409


class ValidationError(APIStatusError):
    """422: Astria refused the parameters. Never retried (API notes §13)."""

    status_code = 422


class RateLimitError(APIStatusError):
    """429: too many requests; `retry_after` holds the server's hint in seconds, if any."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ServerError(APIStatusError):
    """5xx: a server-side failure."""


class GatewayTimeoutError(ServerError):
    """504: Astria's gateway gave up after 30 s; the request may have been processed anyway."""

    status_code = 504


class WaitTimeoutError(AstriaError, TimeoutError):
    """A wait passed its deadline; `last` is the last state seen, `object_id` resumes it."""

    def __init__(self, message: str, *, kind: str, object_id: int, last: Any = None) -> None:
        self.kind = kind
        self.object_id = object_id
        self.last = last
        super().__init__(message)


class PromptFailedError(AstriaError):
    """Astria finished the prompt with a `user_error`; `prompt` is the failed prompt."""

    def __init__(self, prompt: Any) -> None:
        self.prompt = prompt
        super().__init__(f"prompt {prompt.id} failed: {prompt.user_error}")


class FairUseError(AstriaError):
    """A fair-use cap would be crossed; nothing was sent and nothing was charged.

    The fields let a program explain the refusal without parsing the message ("your model
    has used 21 of 21 prompts"); each is None where it does not apply.

    Attributes:
        limit: the `FairUsePolicy` field that refused: "prompts_per_tune", "max_images",
            "max_in_flight_per_tune" or "max_in_flight".
        tune_id: the tune the prompt counts against (the one at its cap, for a tune cap).
        cap: the limit's value (21 prompts per tune by default, 8 images, 8 in flight...).
        used: how much of it is used (prompts counted for the tune, images asked for, prompts
            in flight).
        in_flight: prompts in flight, when an in-flight bound refused (the create waited
            for a place until its deadline).
    """

    def __init__(self, message: str, *, limit: str | None = None, tune_id: int | None = None,
                 cap: int | None = None, used: int | None = None,
                 in_flight: int | None = None) -> None:
        self.limit = limit
        self.tune_id = tune_id
        self.cap = cap
        self.used = used
        self.in_flight = in_flight
        super().__init__(message)


class CoordinationError(AstriaError):
    """The coordination backend (Redis) is unreachable or unsafe to use; a create that needed
    it was not sent."""


class BudgetExceededError(AstriaError):
    """Going on would exceed the configured budget; nothing more was sent."""


class CallbackError(AstriaError, ValueError):
    """A callback body or query is not an Astria callback (or its secret is wrong)."""


class DownloadError(AstriaError):
    """An image could not be downloaded; no partial file was left behind."""

    def __init__(self, message: str, *, url: str = "") -> None:
        self.url = url
        super().__init__(message)


STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    cls.status_code: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        ValidationError,
        RateLimitError,
        GatewayTimeoutError,
    )
    if cls.status_code is not None
}


def maybe_processed(exc: BaseException) -> bool:
    """Could the create that raised `exc` have reached Astria (and so exist, and be paid)?

    False only when it provably did not: refused here before sending (invalid parameters, a
    fair-use or budget guard, an unreachable coordination Redis), refused by the server with a
    4xx (429 included), or a connection that failed before anything was sent. A 5xx, a 504
    ("probably processed", API notes §13), a timeout, a reset after sending, a bad answer or a
    cancellation mid-request all may have created it. Fair use, batch recovery and error
    messages all ask this.
    """
    if isinstance(exc, (InvalidParamsError, FairUseError, BudgetExceededError,
                        CoordinationError)):
        return False
    if isinstance(exc, APIStatusError):
        return exc.status >= 500
    if isinstance(exc, APIConnectionError):
        return exc.sent
    return True


def error_class(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP status (a table, not an if-chain)."""
    cls = STATUS_ERRORS.get(status)
    if cls is not None:
        return cls
    return ServerError if status >= 500 else APIStatusError
