"""Client settings, environment resolution, and every default and Astria limit in one place.

The numbers other modules use (page sizes, offset caps, timeouts, wait and fair-use defaults,
download concurrency) are named here, each with the reason it has its value. The API notes
cited as "API notes §N" are `docs/astria-api.md` in the repository.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import attrs

from ._fields_repr import fields_repr
from ._retry import RetryPolicy
from .errors import ConfigurationError

__version__ = "0.1.0"

DEFAULT_BASE_URL = "https://api.astria.ai"
# Astria's gateway answers 504 after 30 s (API notes §1.1), so a request that has not answered
# in 60 s is not going to; uploads of training images get longer.
DEFAULT_TIMEOUT = 60.0
DEFAULT_UPLOAD_TIMEOUT = 300.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_CONCURRENCY = 32
DEFAULT_CONNECTOR_LIMIT = 64
# The largest answer body the client reads. Astria's largest answers, lists of 120 prompts
# with their image URLs, are a few hundred KB; a body past this is refused unread, so a hostile
# or broken server cannot make the client hold hundreds of MB.
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
# Waits get a quarter of the concurrency limiter at most, so that however many are waiting,
# the caller's own requests always find a free slot.
BOARD_SHARE = 4
# A wait that times out on a state the board kept only as a signature fetches it for its
# error with one GET; at most this many such GETs per board per `BOARD_LAST_WINDOW` seconds,
# so that every wait timing out at once (a stalled account) costs a few requests, not one each.
BOARD_LAST_FETCHES = 16
BOARD_LAST_WINDOW = 60.0

# --- Astria's limits ----------------------------------------------------------------------
# The largest page the list endpoints serve, and the offsets above which they answer 400
# "use before_id" (API notes §3.1, §5.3).
PAGE_LIMIT = 120
MAX_TUNE_OFFSET = 200
# API notes §3.2: the gallery tune list takes larger pages (Astria's CLI asks for 200).
GALLERY_PAGE_LIMIT = 200
MAX_PROMPT_OFFSET = 10_000

# --- waits (see WaitPolicy for why these numbers) ---------------------------------------------
TUNE_WAIT_INTERVAL = 15.0
TUNE_WAIT_MAX_INTERVAL = 60.0
TUNE_WAIT_TIMEOUT = 7200.0
# A tune says when to look (API notes §2): `eta`, the expected end of training; a look a
# second after it finds it trained. A `branch=fast` mock trains in about a minute (seconds on
# FakeAstria), so without an eta its first look is after 2 s, growing from there. Neither
# makes a look later than the policy's interval, and no first look is sooner than 1 s.
TUNE_ETA_MARGIN = 1.0
TUNE_FAST_FIRST_LOOK = 2.0
TUNE_MIN_FIRST_LOOK = 1.0
PROMPT_WAIT_INTERVAL = 2.0
PROMPT_WAIT_MAX_INTERVAL = 10.0
PROMPT_WAIT_TIMEOUT = 900.0
# A prompt with `trained_at` but no images and no user_error has failed (API notes §11), but
# images may be attached a moment after `trained_at`: waits settle it after this long.
PROMPT_IMAGELESS_GRACE = 5.0
WAIT_MULTIPLIER = 1.5
WAIT_JITTER = 0.1
# With this many ids or fewer a board tick is single GETs: a list page costs one request too
# but carries 120 full objects (~100x the bytes), and single GETs also see objects the list
# cannot (gallery tunes, other workspaces).
SINGLE_MAX = 3
# Waiters a board wakes per pass of the event loop: a tick that finishes 100,000 prompts (or
# a mass timeout) resumes them in chunks, so that other tasks run between chunks.
WAKE_CHUNK = 128
# A board's passes over every watched id (collecting the pending ones, planning the next
# tick, grouping by tune, pacing each waiter after a tick) yield to the loop past this many.
PLAN_CHUNK = 4096
# Waits started together that a board registers per pass of the loop (~3 µs each): 4,096 a
# pass made 25 stalls of ~15 ms each when 100,000 started at once.
ADMIT_CHUNK = 1024
# States a board keeps besides the watched ones (for waits started after a callback).
STATE_CAP = 4096
# A 429 without Retry-After pauses every wait 5 s, doubling while they repeat, up to 120 s.
RATE_PAUSE_BASE = 5.0
RATE_PAUSE_MAX = 120.0

# What a paid tune costs, for the CLI's confirmation: astria.ai/creators quotes roughly $2
# per training (API notes §15); Astria does not quote a price before the create.
TUNE_PRICE_MC = 200_000

# --- fair use (API notes §15: ~14 prompts per tune, 8 images each, up to 7 automatic) -------
FAIR_USE_PROMPTS_PER_TUNE = 14
FAIR_USE_AUTOMATIC_PROMPTS = 7
FAIR_USE_MAX_IMAGES = 8
# A normal headshot burst starts at once; a runaway loop cannot queue hundreds.
FAIR_USE_IN_FLIGHT_PER_TUNE = 8
FAIR_USE_IN_FLIGHT = 64
# A prompt whose end the client never learns stops counting as in flight after the prompt
# wait timeout, or after an hour when prompt waits have none.
FAIR_USE_IN_FLIGHT_EXPIRY = 3600.0

# --- batch jobs ---------------------------------------------------------------------------
# Astria's gateway answers within 30 s (API notes §1.1): a create sent by a crashed run has
# landed, or never will, by then.
BATCH_SETTLE = 35.0
# Recovery looks a prompt up by a prefix of its text of at most this many URL-encoded bytes
# (`text` filters by substring, API notes §5.3); a 1,000-character text would not fit a URL.
BATCH_LOOKUP_TEXT_BYTES = 256
# Jobs in flight at once when the fair-use guard is off (otherwise its in-flight bounds
# decide): a ceiling on tasks and open files, not a pace.
BATCH_CONCURRENCY = 256

# LoRA/FaceID tunes a client remembers so that a prompt on a bare id is routed to the base
# model (API notes §5.1); a tune is ~1 KB, so this is a few MB at most.
ROUTE_MEMORY = 4096
# The base model a LoRA/FaceID tune without a `base_tune_id` runs on, by branch (API notes
# §5.1: 1504944 Flux1.dev, 666678 SDXL 1.0).
ROUTE_DEFAULT_BASE = {"flux1": 1504944, "sdxl1": 666678}

# --- downloads ---------------------------------------------------------------------------
DEFAULT_DOWNLOAD_CONCURRENCY = 8
DOWNLOAD_CONNECT_TIMEOUT = 10.0
# No total timeout for an image (a 4K image or an mp4 may take a while), but a stalled
# connection fails after a minute.
DOWNLOAD_READ_TIMEOUT = 60.0
# The largest file a download writes: far above any image or the short videos Astria makes,
# low enough that an endless stream cannot fill the disk.
DOWNLOAD_MAX_BYTES = 256 * 1024 * 1024

# Callback bodies: a prompt is a few KB, a pack's array of prompts stays far below 1 MiB.
CALLBACK_MAX_BYTES = 1024 * 1024

# Precedence follows Astria's own tooling (API notes §1.4).
API_KEY_VARS = ("ASTRIA_AUTH_TOKEN", "ASTRIA_API_KEY")
BASE_URL_VAR = "ASTRIA_BASE_URL"
WORKSPACE_VARS = ("WORKSPACE_ID", "ASTRIA_WORKSPACE_ID")
# Astria's official CLI keeps `api_key`, `base_url` and `workspace_id` in
# $ASTRIA_CONFIG_DIR/config.json (default ~/.astria), or config.NAME.json for --profile NAME.
CONFIG_DIR_VAR = "ASTRIA_CONFIG_DIR"
PROFILE_VAR = "ASTRIA_PROFILE"
KEY_ARGUMENT = "the api_key argument"

USER_AGENT = f"astria-async/{__version__}"


def _first_env(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def config_path(env: Mapping[str, str], profile: str | None = None) -> Path:
    """The official CLI's config file of `profile` (default: $ASTRIA_PROFILE, then "default")."""
    name = profile or _first_env(env, (PROFILE_VAR,)) or "default"
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum() or ".." in name:
        raise ConfigurationError(f"profile must be a plain name (letters, digits, - _ .), "
                                 f"got {name!r}")
    root = _first_env(env, (CONFIG_DIR_VAR,))
    directory = Path(root).expanduser() if root else Path.home() / ".astria"
    return directory / ("config.json" if name == "default" else f"config.{name}.json")


def read_config(path: Path) -> dict[str, str]:
    """`api_key`, `base_url` and `workspace_id` from an official CLI config file ({} if none).

    A missing or unreadable file counts as empty, as the official CLI treats it.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: str(v).strip() for k in ("api_key", "base_url", "workspace_id")
            if isinstance((v := data.get(k)), (str, int)) and not isinstance(v, bool)
            and str(v).strip()}


@attrs.frozen
class KeySource:
    """Where the API key came from, for error messages and `-v` (never the key itself)."""

    __repr__ = fields_repr

    key: str | None = attrs.field(repr=False)
    source: str
    config: dict[str, str] = attrs.field(factory=dict, repr=False)
    others: tuple[str, ...] = ()

    def describe(self) -> str:
        """`key from ASTRIA_AUTH_TOKEN; ASTRIA_API_KEY is also set and differs`."""
        text = f"key from {self.source}"
        if self.others:
            verb = "is" if len(self.others) == 1 else "are"
            text += f"; {' and '.join(self.others)} {verb} also set and differ"
            text += "s" if len(self.others) == 1 else ""
        return text


def find_key(api_key: str | None, env: Mapping[str, str] | None = None,
             profile: str | None = None) -> KeySource:
    """The API key and its source: the argument, ASTRIA_AUTH_TOKEN, ASTRIA_API_KEY, then the
    official CLI's config file (read only when none of the others is set)."""
    env = os.environ if env is None else env
    given = [(KEY_ARGUMENT, api_key.strip())] if api_key and api_key.strip() else []
    given += [(name, env[name].strip()) for name in API_KEY_VARS if env.get(name, "").strip()]
    if given:
        source, key = given[0]
        others = tuple(dict.fromkeys(name for name, value in given[1:] if value != key))
        return KeySource(key, source, others=others)
    path = config_path(env, profile)
    config = read_config(path)
    if config.get("api_key"):
        return KeySource(config["api_key"], str(path), config)
    return KeySource(None, "nowhere", config)


@attrs.frozen(kw_only=True)
class Settings:
    """Resolved configuration of one client (the key is kept out of repr)."""

    __repr__ = fields_repr

    api_key: str = attrs.field(repr=False)
    base_url: str
    workspace_id: str | None
    timeout: float
    upload_timeout: float
    connect_timeout: float
    retry: RetryPolicy
    max_concurrency: int
    connector_limit: int
    idempotent: bool
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    key_source: str = KEY_ARGUMENT
    key_note: str = f"key from {KEY_ARGUMENT}"

    def headers(self) -> dict[str, str]:
        """Headers sent on every request."""
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if self.workspace_id is not None:
            headers["X-Workspace-Id"] = self.workspace_id
        return headers


def resolve(
    *,
    api_key: str | None,
    base_url: str | None,
    workspace_id: str | int | None,
    timeout: float | None,
    retry: RetryPolicy | None,
    max_concurrency: int,
    connector_limit: int,
    idempotent: bool,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    env: Mapping[str, str] | None = None,
    profile: str | None = None,
) -> Settings:
    """Merge explicit arguments, the environment and the official CLI's config into `Settings`.

    The config file (`config_path`) is read only when no key is given or in the environment;
    its base URL and workspace then apply where no argument or variable sets them.
    """
    env = os.environ if env is None else env
    found = find_key(api_key, env, profile)
    if not found.key:
        raise ConfigurationError(
            "no Astria API key: pass api_key=... or set ASTRIA_AUTH_TOKEN or ASTRIA_API_KEY, "
            f"or log in with Astria's CLI ({config_path(env, profile)}); find your key at "
            "https://www.astria.ai/users/edit/api")
    config = found.config
    url = (base_url or _first_env(env, (BASE_URL_VAR,)) or config.get("base_url")
           or DEFAULT_BASE_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"base_url must start with http:// or https://, got {url!r}")
    workspace = (str(workspace_id) if workspace_id is not None
                 else _first_env(env, WORKSPACE_VARS) or config.get("workspace_id"))
    # Astria's CLI treats the literal "personal" as "no header" (API notes §1.3).
    if workspace is not None and workspace.strip().lower() in ("", "personal"):
        workspace = None
    if timeout is not None and timeout <= 0:
        raise ConfigurationError(f"timeout must be > 0 seconds, got {timeout!r}")
    if max_concurrency < 1 or connector_limit < 1:
        raise ConfigurationError("max_concurrency and connector_limit must be >= 1")
    if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int) \
            or max_response_bytes < 1:
        raise ConfigurationError(
            f"max_response_bytes must be an integer >= 1, got {max_response_bytes!r}")
    return Settings(
        api_key=found.key,
        key_source=found.source,
        key_note=found.describe(),
        base_url=url,
        workspace_id=workspace,
        timeout=timeout or DEFAULT_TIMEOUT,
        upload_timeout=max(timeout or 0.0, DEFAULT_UPLOAD_TIMEOUT),
        connect_timeout=DEFAULT_CONNECT_TIMEOUT,
        retry=retry or RetryPolicy(),
        max_concurrency=max_concurrency,
        connector_limit=connector_limit,
        idempotent=idempotent,
        max_response_bytes=max_response_bytes,
    )


# API notes §1.4/§10.6: the model catalogue's names, the variables that override their tune
# ids (as in Astria's CLI) and the CLI's built-in ids, used when the catalogue cannot be read.
MODEL_ENV_VARS = {"gemini": "GEMINI_TUNE_ID", "seedream": "SEEDREAM_TUNE_ID",
                  "gpt-image-2": "GPT_IMAGE_2_TUNE_ID"}
BUILTIN_MODELS = {"gemini": 3618064, "seedream": 3691308, "gpt-image-2": 4665564}
# Seconds the catalogue is kept when its answer names no `cache_ttl` (the CLI's default).
MODELS_CACHE_TTL = 86400.0

# API notes §1.5/§7: gallery models whose family rules are checked before sending.
FLUX_TUNE_IDS = frozenset({1504944, 3063697})  # Flux1.dev, Krea Flux1.dev
SEEDREAM_TUNE_IDS = frozenset({3225353, 3691308})  # Seedream 4.0, 4.5
FLUX_MAX_CFG = 5  # Flux answers 422 "less than 5"
SEEDREAM_MAX_IMAGES = 4
