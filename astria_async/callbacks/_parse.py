"""A lenient parser for callback bodies: every shape Astria sends, typed; anything else refused."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Union

from .._json import loads
from ..errors import APIResponseValidationError, CallbackError
from ..models import Binding, Prompt, Tune

Callback = Union[Tune, Prompt, list[Prompt]]  # noqa: UP007 (a runtime alias on Python 3.10)

_PROMPT_KEYS = frozenset({"images", "tune_id", "text", "user_error", "negative_prompt",
                          "num_images", "cfg_scale", "seed"})
_TUNE_KEYS = frozenset({"title", "name", "orig_images", "model_type", "branch", "eta", "token",
                        "ckpt_url", "ckpt_urls", "base_tune_id", "expires_at", "steps"})
_TUNE_URL = re.compile(r"/tunes/\d+(?:\.json)?$")


def _kind(data: Mapping[str, Any]) -> type[Tune] | type[Prompt]:
    url = data.get("url")
    if isinstance(url, str):
        if "/prompts/" in url:
            return Prompt
        if _TUNE_URL.search(url):
            return Tune
    if _PROMPT_KEYS & data.keys():
        return Prompt
    if _TUNE_KEYS & data.keys():
        return Tune
    raise CallbackError("the callback object is neither a tune nor a prompt "
                        f"(keys: {sorted(data)[:12]})")


def _prompt(item: Any, client: Binding | None) -> Prompt:
    if not isinstance(item, Mapping):
        raise CallbackError(f"expected prompt objects in the array, got {type(item).__name__}")
    if isinstance(item.get("prompt"), Mapping):
        item = item["prompt"]
    return Prompt.from_dict(item, client)


def _decode(body: bytes | bytearray | str) -> Any:
    try:
        # The guarded decoder: a body nested thousands deep, not UTF-8 or not JSON is a
        # typed error here (a 400 from the receiver), never a crash of the server.
        return loads(bytes(body) if isinstance(body, bytearray) else body)
    except APIResponseValidationError as exc:
        raise CallbackError(f"the callback body: {exc}") from None


def parse_callback(body: bytes | str | Mapping[str, Any] | list[Any],
                   client: Binding | None = None) -> Tune | Prompt | list[Prompt]:
    """An Astria callback body as typed objects.

    Accepts the wrapped form real callbacks use (`{"tune": {...}}`, `{"prompt": {...}}`), a
    flat object, and the array a pack's `prompts_callback` sends (also `{"prompts": [...]}`),
    as bytes, str or parsed JSON (API notes §12). With `client`, the objects are bound to it
    (so that `prompt.download()` works).

    Raises:
        CallbackError: the body is not JSON or not an Astria tune/prompt.
    """
    data: Any = _decode(body) if isinstance(body, (bytes, bytearray, str)) else body
    try:
        if isinstance(data, list):
            return [_prompt(item, client) for item in data]
        if not isinstance(data, Mapping):
            raise CallbackError(f"expected a JSON object or array, got {type(data).__name__}")
        if "id" not in data:
            if isinstance(data.get("tune"), Mapping):
                return Tune.from_dict(data["tune"], client)
            if isinstance(data.get("prompt"), Mapping):
                return Prompt.from_dict(data["prompt"], client)
            if isinstance(data.get("prompts"), list):
                return [_prompt(item, client) for item in data["prompts"]]
            raise CallbackError("the callback object has no 'id' and no 'tune'/'prompt' key")
        return _kind(data).from_dict(data, client)
    except APIResponseValidationError as exc:
        raise CallbackError(f"not a valid Astria callback: {exc}") from exc
