"""astria_async: an asyncio client for the Astria fine-tuning and image-generation API.

Docstrings cite the project's notes on the Astria API as "API notes §N": `docs/astria-api.md`
in the repository, also a page of the documentation site.
"""

import types as _types
import typing as _typing

from . import errors as errors
from ._config import __version__ as __version__
from ._lazy import lazy_getattr as _lazy_getattr
from ._retry import RetryPolicy as RetryPolicy
from .errors import (
    APIConnectionError as APIConnectionError,
)
from .errors import (
    APIResponseValidationError as APIResponseValidationError,
)
from .errors import (
    APIStatusError as APIStatusError,
)
from .errors import (
    APITimeoutError as APITimeoutError,
)
from .errors import (
    AstriaError as AstriaError,
)
from .errors import (
    AuthenticationError as AuthenticationError,
)
from .errors import (
    BadRequestError as BadRequestError,
)
from .errors import (
    CallbackError as CallbackError,
)
from .errors import (
    ClientClosedError as ClientClosedError,
)
from .errors import (
    ConfigurationError as ConfigurationError,
)
from .errors import (
    CoordinationError as CoordinationError,
)
from .errors import (
    DownloadError as DownloadError,
)
from .errors import (
    FairUseError as FairUseError,
)
from .errors import (
    GatewayTimeoutError as GatewayTimeoutError,
)
from .errors import (
    InvalidParamsError as InvalidParamsError,
)
from .errors import (
    NotFoundError as NotFoundError,
)
from .errors import (
    PermissionDeniedError as PermissionDeniedError,
)
from .errors import (
    PromptFailedError as PromptFailedError,
)
from .errors import (
    RateLimitError as RateLimitError,
)
from .errors import (
    ServerError as ServerError,
)
from .errors import (
    ValidationError as ValidationError,
)
from .errors import (
    WaitTimeoutError as WaitTimeoutError,
)
from .models import Pack as Pack
from .models import Prompt as Prompt
from .models import Tune as Tune
from .waiting.policy import FairUsePolicy as FairUsePolicy
from .waiting.policy import WaitPolicy as WaitPolicy

# The one list of names imported on first use (PEP 562): these pull in aiohttp (~0.25 s),
# which `astria --help` and code that only needs a model, a policy or an error should not pay.
_LAZY = {
    "AstriaClient": "._client",
    "CallbackReceiver": ".callbacks",
    "parse_callback": ".callbacks",
    # Models of the less-used calls' answers (account, catalogue, pack runs, inspections):
    # ~2.5 ms of attrs class creation that a program which never makes them does not pay.
    "CatalogModel": ".answers",
    "ImageInspection": ".answers",
    "ModelCatalog": ".answers",
    "PackRun": ".answers",
    "User": ".answers",
    "Workspace": ".answers",
    # Request parameters: attrs class creation for ~30 classes (~10 ms) that a client pays
    # only when it first sends one.
    "InspectParams": ".params",
    "PackParams": ".params",
    "PackTuneParams": ".params",
    "PromptParams": ".params",
    "PromptUpdateParams": ".params",
    "TuneParams": ".params",
    "WorkspaceParams": ".params",
}

if _typing.TYPE_CHECKING:
    from ._client import AstriaClient as AstriaClient
    from .answers import CatalogModel as CatalogModel
    from .answers import ImageInspection as ImageInspection
    from .answers import ModelCatalog as ModelCatalog
    from .answers import PackRun as PackRun
    from .answers import User as User
    from .answers import Workspace as Workspace
    from .callbacks import CallbackReceiver as CallbackReceiver
    from .callbacks import parse_callback as parse_callback
    from .params import InspectParams as InspectParams
    from .params import PackParams as PackParams
    from .params import PackTuneParams as PackTuneParams
    from .params import PromptParams as PromptParams
    from .params import PromptUpdateParams as PromptUpdateParams
    from .params import TuneParams as TuneParams
    from .params import WorkspaceParams as WorkspaceParams


__getattr__ = _lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


# The public names are those imported above ("X as X": re-exported, PEP 484) plus the lazy
# ones; `__all__` is derived from them, so there is no second list to keep in step.
__all__ = sorted(
    [name for name, value in globals().items() if not name.startswith("_")
     and (name == "errors" or not isinstance(value, _types.ModuleType))]
    + list(_LAZY) + ["__version__"]
)
