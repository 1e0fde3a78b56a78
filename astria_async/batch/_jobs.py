"""Batch job files: one prompt spec per JSON line, validated in full before anything is sent."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from .._fields_repr import fields_repr
from ..errors import AstriaError, InvalidParamsError
from ..params import PromptParams

_FIELDS = frozenset(f.name for f in attrs.fields(PromptParams))
_FILE_FIELDS = ("input_image", "mask_image")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@attrs.frozen
class LineError:
    """One problem in a job file, with the line it is on (1-based)."""

    __repr__ = fields_repr

    line: int
    message: str
    field: str | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class JobFileError(AstriaError):
    """The job file has errors; `errors` lists every one with its line. Nothing was sent."""

    def __init__(self, source: str, errors: list[LineError]) -> None:
        self.source = source
        self.errors = errors
        first = errors[0] if errors else None
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{source}: {first}{more}; nothing was sent")


@attrs.frozen
class Job:
    """One prompt to create: the tune it is posted to, its parameters and a stable key."""

    __repr__ = fields_repr

    key: str
    tune_id: int
    params: PromptParams
    spec: Mapping[str, Any] = attrs.field(eq=False)  # canonical JSON spec, for the journal
    line: int = 0
    keyed: bool = False  # the key was given in the file (not derived from the content)

    @property
    def dirname(self) -> str:
        """A file-system-safe directory name for this job's images."""
        return _UNSAFE.sub("_", self.key).strip("._") or "job"


def canonical(spec: Mapping[str, Any]) -> str:
    """Stable JSON text of a spec (sorted keys, no spaces): what the key hash is taken over."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def identity(spec: Mapping[str, Any]) -> str:
    """The default key of a job: a digest of its tune id and normalised prompt attributes.

    It does not depend on the job's line, so inserting, removing or reordering lines keeps
    every job's key (and a finished job is not created again). Attributes set to null are
    left out, and the text is NFC-normalised, so equivalent lines get the same key.
    """
    norm = {k: v for k, v in spec.items() if v is not None and k != "key"}
    if isinstance(norm.get("text"), str):
        norm["text"] = unicodedata.normalize("NFC", norm["text"])
    return "j" + hashlib.sha256(canonical(norm).encode()).hexdigest()[:16]


def legacy_key_digest(key: str, spec: str) -> bool:
    """True when `key` is the `{line}-{digest}` default key of an older version for `spec`.

    Such keys depended on the line; the journal renames them to `identity` keys.
    """
    line, _, digest = key.partition("-")
    return (line.isdigit() and len(digest) == 10
            and hashlib.sha256(spec.encode()).hexdigest()[:10] == digest)


def journal_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec as journaled and digested: the callback URL without its query string.

    The journal and the key never hold the callback's secret (its query string, where Astria
    suggests putting it, API notes §12); the parameters sent keep it.
    """
    stored = dict(spec)
    if isinstance(stored.get("callback"), str):
        stored["callback"] = _without_secret(stored["callback"])
    return stored


def _without_secret(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def job_from_spec(spec: Mapping[str, Any], *, line: int = 0,
                  base_dir: Path | None = None) -> Job:
    """Build and validate one job from a spec mapping; raises InvalidParamsError."""
    if not isinstance(spec, Mapping):
        raise InvalidParamsError("line", f"must be a JSON object, got {type(spec).__name__}")
    body = {k: v for k, v in spec.items() if k not in ("key", "tune_id")}
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidParamsError(unknown[0], "is not a prompt parameter (put API parameters "
                                 "this library does not know under \"extra\")")
    tune_id = spec.get("tune_id")
    if isinstance(tune_id, bool) or not isinstance(tune_id, int) or tune_id <= 0:
        raise InvalidParamsError("tune_id", f"must be a positive integer, got {tune_id!r}")
    key = spec.get("key")
    if key is not None and (not isinstance(key, str) or not key.strip()):
        raise InvalidParamsError("key", f"must be a non-empty string, got {key!r}")
    fields = dict(body)
    for name in _FILE_FIELDS:  # paths in a job file are relative to the file
        if isinstance(fields.get(name), str) and base_dir is not None:
            fields[name] = str(base_dir / fields[name])
    if isinstance(fields.get("image_reference_urls"), list):
        fields["image_reference_urls"] = tuple(fields["image_reference_urls"])
    if "extra" in fields and not isinstance(fields["extra"], Mapping):
        raise InvalidParamsError("extra", "must be a JSON object of API parameters")
    params = PromptParams(**fields)
    params.validate()
    stored = journal_spec({"tune_id": tune_id, **body})
    return Job(key=key if key is not None else identity(stored), tune_id=tune_id,
               params=params, spec=stored, line=line, keyed=key is not None)


def parse_jobs(lines: Iterable[str], *, source: str = "<jobs>",
               base_dir: Path | None = None) -> list[Job]:
    """Validate every line, then the jobs; raises JobFileError listing each bad line."""
    jobs: list[Job] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    dirs: dict[str, str] = {}
    for number, text in enumerate(lines, start=1):
        if number == 1:
            text = text.removeprefix("\ufeff")  # a UTF-8 BOM, as some editors write
        if not text.strip():
            continue  # blank lines are allowed, e.g. a trailing newline
        try:
            spec = json.loads(text)
        except ValueError as exc:
            errors.append(LineError(number, f"invalid JSON: {exc}"))
            continue
        except RecursionError:
            errors.append(LineError(number, "invalid JSON: nested too deeply"))
            continue
        try:
            job = job_from_spec(spec, line=number, base_dir=base_dir)
        except InvalidParamsError as exc:
            errors.append(LineError(number, str(exc), exc.field))
            continue
        if job.key in seen:
            if job.keyed:
                message = f"key {job.key!r} is already used on line {seen[job.key]}"
            else:  # one job, or two? Only the user can say: ask for keys
                message = (f"the same job as line {seen[job.key]} (lines {seen[job.key]} and "
                           f"{number} are identical); to create it twice give each line its "
                           "own \"key\"")
            errors.append(LineError(number, message, "key"))
            continue
        if job.dirname in dirs:
            errors.append(LineError(number, f"key {job.key!r} maps to the same image folder "
                                    f"as key {dirs[job.dirname]!r}", "key"))
            continue
        seen[job.key] = number
        dirs[job.dirname] = job.key
        jobs.append(job)
    if errors:
        raise JobFileError(source, errors)
    return jobs


def _decoded(raw: Iterable[bytes], bad: list[LineError]) -> Iterator[str]:
    for number, line in enumerate(raw, start=1):
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.append(LineError(number, f"not UTF-8 text (byte {exc.start + 1}: "
                                 f"{line[exc.start:exc.start + 1]!r})"))
            yield ""


def load_jobs(path: str | Path) -> list[Job]:
    """Read and validate a JSONL job file (see `parse_jobs`); a UTF-8 BOM is accepted.

    Raises:
        JobFileError: a line is not UTF-8, not JSON, or not a valid job.
        OSError: the file cannot be read.
    """
    path = Path(path)
    bad: list[LineError] = []
    with path.open("rb") as fh:
        try:
            jobs = parse_jobs(_decoded(fh, bad), source=str(path), base_dir=path.parent)
        except JobFileError as exc:
            errors = sorted([*bad, *exc.errors], key=lambda e: e.line)
            raise JobFileError(str(path), errors) from None
    if bad:
        raise JobFileError(str(path), bad)
    return jobs
