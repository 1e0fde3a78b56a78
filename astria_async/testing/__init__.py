"""In-process fake of the Astria API (FakeAstria) for tests and offline demos.

Only binds 127.0.0.1 and only calls back to loopback URLs.  The pytest plugin
(:mod:`astria_async.testing.plugin`) offers ``astria_fake`` and ``astria_client``.
"""

from pathlib import Path

from ._callbacks import CallbackRecord
from ._clock import FakeClock
from ._fake import FakeAstria
from ._faults import Fault, RequestRecord
from ._png import png_of_size
from ._recorder import CallbackRecorder
from ._serve import main, serve
from ._store import FailRule, default_fail_rule

SAMPLES_DIR = Path(__file__).parent / "samples"


def sample_images() -> list[Path]:
    """The three small training PNGs shipped for offline demos."""
    return sorted(SAMPLES_DIR.glob("*.png"))


__all__ = [
    "SAMPLES_DIR",
    "CallbackRecord",
    "CallbackRecorder",
    "FailRule",
    "FakeAstria",
    "FakeClock",
    "Fault",
    "RequestRecord",
    "default_fail_rule",
    "main",
    "png_of_size",
    "sample_images",
    "serve",
]
