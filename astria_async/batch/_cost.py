"""Cost estimates in milli-cents, Astria's unit (`cost_mc`: 1,000 mc = $0.01, API notes §15)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import attrs

from .._fields_repr import fields_repr
from ..errors import ConfigurationError
from ..models import Prompt
from ._jobs import Job

# astria.ai/creators quotes roughly $0.03 per image (API notes §15).
DEFAULT_PER_IMAGE_MC = 3_000
# The number of images a prompt makes when the spec does not say (Astria's form default).
DEFAULT_NUM_IMAGES = 4


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"price table: {what} must be a whole number >= 0, "
                                 f"got {value!r}")
    return value


@attrs.frozen(kw_only=True)
class PriceTable:
    """What a prompt is expected to cost: per image, per prompt, optionally per tune."""

    __repr__ = fields_repr

    per_image_mc: int = DEFAULT_PER_IMAGE_MC
    per_prompt_mc: int = 0
    default_num_images: int = DEFAULT_NUM_IMAGES
    tunes: Mapping[int, int] = attrs.field(factory=dict)  # tune id -> per-image mc
    free_tunes: frozenset[int] = frozenset()

    @classmethod
    def from_dict(cls, data: Any) -> PriceTable:
        """Build from JSON such as {"per_image_mc": 3000, "tunes": {"1504944": 4000}}."""
        if not isinstance(data, Mapping):
            raise ConfigurationError("price table: must be a JSON object")
        known = {"per_image_mc", "per_prompt_mc", "default_num_images", "tunes", "free_tunes"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigurationError(f"price table: unknown key {unknown[0]!r} "
                                     f"(known: {', '.join(sorted(known))})")
        tunes = data.get("tunes", {})
        if not isinstance(tunes, Mapping):
            raise ConfigurationError("price table: tunes must map tune ids to mc per image")
        try:
            by_tune = {int(k): _count(v, f"tunes[{k}]") for k, v in tunes.items()}
            free = frozenset(int(t) for t in data.get("free_tunes", ()))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"price table: tune ids must be integers ({exc})") from None
        return cls(
            per_image_mc=_count(data.get("per_image_mc", DEFAULT_PER_IMAGE_MC), "per_image_mc"),
            per_prompt_mc=_count(data.get("per_prompt_mc", 0), "per_prompt_mc"),
            default_num_images=_count(data.get("default_num_images", DEFAULT_NUM_IMAGES),
                                      "default_num_images"),
            tunes=by_tune, free_tunes=free,
        )

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        """Read a JSON price table file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"price table {str(path)!r}: {exc}") from None
        return cls.from_dict(data)

    def job_cost(self, job: Job, fast_tunes: Collection[int] = ()) -> int:
        """Estimated mc of one job; free when its tune is a known `branch=fast` mock tune."""
        free = self.free_tunes | frozenset(fast_tunes)
        # A LoRA/FaceID prompt is posted to a base model and names the user's tune in its
        # text (API notes §5.1); a fast tune anywhere in it makes it a free mock (API notes §15).
        probe = Prompt(id=0, tune_id=job.tune_id, text=job.params.text)
        if job.tune_id in free or any(t in free for t in probe.referenced_tune_ids):
            return 0
        images = job.params.num_images or self.default_num_images
        per_image = self.tunes.get(job.tune_id, self.per_image_mc)
        return self.per_prompt_mc + per_image * images
