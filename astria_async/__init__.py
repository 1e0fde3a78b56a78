"""astria_async: an asyncio client for the Astria fine-tuning and image-generation API."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._config import __version__

if TYPE_CHECKING:  # the names below are imported on first use (PEP 562), see __getattr__
    from . import errors
    from ._client import AstriaClient
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

# Importing the client pulls in aiohttp (~0.25 s); `astria --help` and tools that only
# need a model or an error class should not pay for it.
_WHERE: dict[str, str] = {
    "errors": ".errors",
    "APIConnectionError": ".errors",
    "APIResponseValidationError": ".errors",
    "APIStatusError": ".errors",
    "APITimeoutError": ".errors",
    "AstriaClient": "._client",
    "AstriaError": ".errors",
    "AuthenticationError": ".errors",
    "BadRequestError": ".errors",
    "CallbackError": ".errors",
    "CallbackReceiver": ".callbacks",
    "ClientClosedError": ".errors",
    "ConfigurationError": ".errors",
    "DownloadError": ".errors",
    "FairUseError": ".errors",
    "FairUsePolicy": "._fairuse",
    "GatewayTimeoutError": ".errors",
    "InvalidParamsError": ".errors",
    "NotFoundError": ".errors",
    "Pack": ".models",
    "PackRun": ".models",
    "PackTuneParams": ".params",
    "PermissionDeniedError": ".errors",
    "Prompt": ".models",
    "PromptFailedError": ".errors",
    "PromptParams": ".params",
    "RateLimitError": ".errors",
    "RetryPolicy": "._retry",
    "ServerError": ".errors",
    "Tune": ".models",
    "TuneParams": ".params",
    "ValidationError": ".errors",
    "WaitPolicy": "._polling",
    "WaitTimeoutError": ".errors",
    "parse_callback": ".callbacks",
}

def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use."""
    module_name = _WHERE.get(name)
    if module_name is None:
        raise AttributeError(f"module 'astria_async' has no attribute {name!r}")
    module = importlib.import_module(module_name, __name__)
    value = module if name == "errors" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
