"""astria_async: an asyncio client for the Astria fine-tuning and image-generation API."""

from . import errors
from ._client import AstriaClient
from ._config import __version__
from ._fairuse import FairUsePolicy
from ._polling import WaitPolicy
from ._retry import RetryPolicy
from .callbacks import CallbackReceiver, parse_callback
from .errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AstriaError,
    AuthenticationError,
    BadRequestError,
    CallbackError,
    ClientClosedError,
    ConfigurationError,
    DownloadError,
    FairUseError,
    GatewayTimeoutError,
    InvalidParamsError,
    NotFoundError,
    PermissionDeniedError,
    PromptFailedError,
    RateLimitError,
    ServerError,
    ValidationError,
    WaitTimeoutError,
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
    "CallbackError",
    "CallbackReceiver",
    "ClientClosedError",
    "ConfigurationError",
    "DownloadError",
    "FairUseError",
    "FairUsePolicy",
    "GatewayTimeoutError",
    "InvalidParamsError",
    "NotFoundError",
    "Pack",
    "PackRun",
    "PackTuneParams",
    "PermissionDeniedError",
    "Prompt",
    "PromptFailedError",
    "PromptParams",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "Tune",
    "TuneParams",
    "ValidationError",
    "WaitPolicy",
    "WaitTimeoutError",
    "__version__",
    "errors",
    "parse_callback",
]
