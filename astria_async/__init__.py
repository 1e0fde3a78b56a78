"""astria_async: an asyncio client for the Astria fine-tuning and image-generation API."""

from . import errors
from ._client import AstriaClient
from ._config import __version__
from ._retry import RetryPolicy
from .errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AstriaError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConfigurationError,
    GatewayTimeoutError,
    InvalidParamsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from .models import Pack, PackRun, Prompt, Tune
from .params import PackTuneParams, PromptParams, TuneParams

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AstriaClient",
    "AstriaError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "GatewayTimeoutError",
    "InvalidParamsError",
    "NotFoundError",
    "Pack",
    "PackRun",
    "PackTuneParams",
    "PermissionDeniedError",
    "Prompt",
    "PromptParams",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "Tune",
    "TuneParams",
    "ValidationError",
    "__version__",
    "errors",
]
