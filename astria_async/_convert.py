"""Structuring Astria payloads into models: a generated fast path, cattrs as the reference."""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

import attrs

from . import models
from ._json import loads
from .errors import APIResponseValidationError
from .models import Binding, Pack, Prompt, Tune

if TYPE_CHECKING:
    import cattrs

T = TypeVar("T", Tune, Prompt, Pack)
logger = logging.getLogger("astria_async")

_WRAP_KEYS: dict[type[Any], str] = {Tune: "tune", Prompt: "prompt", Pack: "pack"}
_TRUE = {"true", "1", "yes", "t"}
_FALSE = {"false", "0", "no", "f"}


def _opt_int(value: Any, _: Any = None) -> int | None:
    if value is None or value == "":
        return None
    return _int(value)


def _int(value: Any, _: Any = None) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        number = float(value)  # "12" and "12.0" both appear in Rails payloads
        if number.is_integer():
            return int(number)
    raise ValueError(f"expected an integer, got {value!r}")


def _opt_float(value: Any, _: Any = None) -> float | None:
    # Rails serialises decimals as strings: cfg_scale arrives as "3.0" (API notes §4).
    if value is None or value == "" or isinstance(value, bool):
        return None if not isinstance(value, bool) else float(value)
    return float(value)


def _opt_bool(value: Any, _: Any = None) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected a boolean, got {value!r}")


def _opt_str(value: Any, _: Any = None) -> str | None:
    # "" and null both mean "not set" (callbacks arrive as "" on some objects, API notes §4).
    if value is None or value == "":
        return None
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError(f"expected a string, got {type(value).__name__}")


def _opt_datetime(value: Any, _: Any = None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 timestamp, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        # Python 3.10's fromisoformat does not take "Z"; 3.11+ gets here only for garbage.
        text = value.strip()
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _url(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping) and isinstance(item.get("url"), str):
        return str(item["url"])
    raise ValueError(f"expected a URL string or an object with 'url', got {item!r}")


def _urls(value: Any, _: Any = None) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, (str, Mapping)):
        value = [value]
    return tuple(_url(item) for item in value)


def _ints(value: Any, _: Any = None) -> tuple[int, ...]:
    return tuple(_int(item) for item in value) if value else ()


def _opt_mapping(value: Any, _: Any = None) -> Mapping[str, Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        # Astria's CLI sends characteristics as one JSON string (API notes §3.4).
        value = loads(value)
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object, got {type(value).__name__}")
    return value


def _mappings(value: Any, _: Any = None) -> tuple[Mapping[str, Any], ...]:
    if not value:
        return ()
    return tuple(item for item in value if isinstance(item, Mapping))


def _prompts(value: Any, _: Any = None) -> tuple[Prompt, ...]:
    if not value:
        return ()
    return tuple(_structure_one(item, Prompt, None) for item in value if isinstance(item, Mapping))


_HOOKS: dict[Any, Callable[[Any, Any], Any]] = {
    int: _int,
    int | None: _opt_int,
    float | None: _opt_float,
    bool | None: _opt_bool,
    str | None: _opt_str,
    datetime | None: _opt_datetime,
    tuple[str, ...]: _urls,
    tuple[int, ...]: _ints,
    Mapping[str, Any] | None: _opt_mapping,
    tuple[Mapping[str, Any], ...]: _mappings,
    tuple[Prompt, ...]: _prompts,
}


def _is(tp: Any) -> Callable[[Any], bool]:
    return lambda t: bool(t == tp)


@functools.cache
def detailed() -> cattrs.Converter:
    """The reference cattrs converter the generated functions are tested against (built on
    first use; the library itself structures with `_FAST`, and field by field when that fails)."""
    import cattrs
    from cattrs.gen import make_dict_structure_fn, override

    _resolved()
    conv = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    for tp, hook in _HOOKS.items():
        # Predicates, not single dispatch: `int | None` must not register for int and None.
        conv.register_structure_hook_func(_is(tp), hook)
    # A plain class is dispatched before predicates, so cattrs' own int() would win (0.5 -> 0).
    conv.register_structure_hook(int, _int)
    for cls in (Tune, Prompt, Pack):
        skip: dict[str, Any] = {"raw": override(omit=True)}
        if "_client" in attrs.fields_dict(cls):
            skip["_client"] = override(omit=True)
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv, **skip))
    return conv


# Inline fast paths: most values already have the right type, so the hook (a function call)
# runs only for the rest ("3.0", "", objects with a url...). An inline path may also raise on
# a value its hook would read (an ISO timestamp Python cannot parse without help): the object
# is then structured by `_lenient`, hook by hook, to the same values.
_INLINE: dict[Any, str] = {
    int: "v if v.__class__ is int else {h}(v)",
    int | None: "None if v is None else v if v.__class__ is int else {h}(v)",
    float | None: "None if v is None else v if v.__class__ is float else {h}(v)",
    bool | None: "v if v is None or v.__class__ is bool else {h}(v)",
    str | None: "None if v is None else v if v.__class__ is str and v else {h}(v)",
    # A list of plain URL strings is the usual shape; objects with a `url` go to the hook.
    tuple[str, ...]: "() if not v else tuple(v) if v.__class__ is list and "
                     "all_str(v) else {h}(v)",
    tuple[int, ...]: "() if not v else {h}(v)",
    Mapping[str, Any] | None: "None if v is None else v if v.__class__ is dict else {h}(v)",
    tuple[Mapping[str, Any], ...]: "() if not v else {h}(v)",
    tuple[Prompt, ...]: "() if not v else {h}(v)",
}
# Python 3.11+ parses every ISO-8601 form Astria sends ("...000Z" included) in C; 3.10's does
# not take "Z", so there every timestamp goes through the hook.
_DATETIME = ("    if v is None:\n        s_{f}(b, None)\n"
             "    elif v.__class__ is str and v:\n        d = fromiso(v)\n"
             "        s_{f}(b, d if d.tzinfo is not None else d.replace(tzinfo=utc))\n"
             "    else:\n        s_{f}(b, h_{f}(v))")
if sys.version_info < (3, 11):  # pragma: no cover - the gate runs 3.11+
    _INLINE[datetime | None] = "None if v is None else {h}(v)"


def _all_str(items: list[Any]) -> bool:
    # A loop, not all(<generator>): measured 2.5x faster on a list of four URLs.
    for item in items:  # noqa: SIM110
        if item.__class__ is not str:
            return False
    return True


def _slot_setters(cls: type[Any]) -> dict[str, Any]:
    """`__set__` of each field's slot, after checking that setting the slots is all the attrs
    `__init__` does (no validator, converter or post-init to skip)."""
    fields = attrs.fields(cls)
    assert not hasattr(cls, "__attrs_post_init__") and not hasattr(cls, "__attrs_pre_init__")
    assert all(f.validator is None and f.converter is None for f in fields), cls
    setters = {}
    for field in fields:
        slot = cls.__dict__[field.name]
        assert isinstance(slot, types.MemberDescriptorType), (cls, field.name)
        setters[f"s_{field.name}"] = slot.__set__
    return setters


# The fields the client itself reads from every answer it builds (fair use and prompt routing
# from each tune; the board's state of each prompt): set with `id` when an answer is built
# lazily, so the client's own reads do not build the whole object.
_EAGER: dict[type[Any], tuple[str, ...]] = {
    Tune: ("branch", "model_type", "base_tune_id"),
    Prompt: ("tune_id", "images", "user_error", "trained_at", "updated_at"),
    Pack: (),
}
_OWN = ("id", "raw", "_client")


class _Built(NamedTuple):
    """The generated functions of one class."""

    structure: Callable[[Mapping[str, Any], Any], Any]  # (payload, client) -> a whole object
    shell: Callable[[Mapping[str, Any], Any], Any]  # (payload, client) -> a lazy object
    fill: Callable[[Any, Mapping[str, Any]], None]  # (lazy object, payload): the other fields
    setters: dict[str, Any]  # `s_<field>`: the `__set__` of each field's slot


def _compile(cls: type[Any]) -> _Built:
    """Generate the structuring functions of one class, once, on first use.

    This is the hot path of every request (astria-api payloads parsed into models). cattrs'
    generated functions call one hook per field through closures; this inlines the type checks
    and fills the slots of a new instance directly (what the attrs `__init__` does, without a
    keyword call and a frozen `__setattr__` per field: measured about three times as fast as
    cattrs). The cattrs converter (`detailed()`) stays the reference it is tested against;
    when this fails, the object is structured field by field (`_lenient`), which also names
    the bad field.

    Three functions from the same lines: `structure` builds a whole object (`from_dict`);
    `shell` sets only `id`, the client's own fields (`_EAGER`), `raw` and the client (an
    answer of a client call); `fill` sets the other fields of a shell, on the first read of
    one of them (the models' `__getattr__`).
    """
    setters = _slot_setters(cls)
    env: dict[str, Any] = {"cls": cls, "new": object.__new__, "fromiso": datetime.fromisoformat,
                           "utc": timezone.utc, "all_str": _all_str, "h_id": _int, **setters}
    lines: dict[str, list[str]] = {}
    for field in attrs.fields(cls):
        name = field.name
        if name in ("raw", "_client"):
            continue
        env[f"h_{name}"] = _HOOKS.get(field.type, _int)
        code = [f"    v = o[{name!r}]" if name == "id" else f"    v = g({name!r})"]
        if field.type == datetime | None and field.type not in _INLINE:
            code.append(_DATETIME.format(f=name))
        else:
            code.append(f"    s_{name}(b, {_INLINE[field.type].format(h=f'h_{name}')})")
        lines[name] = code
    eager = [line for name in ("id", *_EAGER[cls]) for line in lines[name]]
    rest = [line for name, code in lines.items() if name not in ("id", *_EAGER[cls])
            for line in code]
    own = ["    s_raw(b, o)"]  # kept as sent, not copied
    if "_client" in attrs.fields_dict(cls):
        own.append("    s__client(b, client)")
    start = ["    g = o.get", "    b = new(cls)"]
    source = ["def structure(o, client):", *start, *eager, *rest, *own, "    return b",
              "def shell(o, client):", *start, *eager, *own, "    return b",
              "def fill(b, o):", "    g = o.get", *rest, "    return None"]
    exec(compile("\n".join(source), f"<astria_async structure {cls.__name__}>", "exec"), env)
    return _Built(env["structure"], env["shell"], env["fill"], setters)


@functools.cache
def _resolved() -> None:
    for cls in (Tune, Prompt, Pack):
        attrs.resolve_types(cls)  # the annotations are strings (PEP 563); _HOOKS keys are types


# Generated on first use, not at import: a client that has not parsed an object yet (and
# `astria --help`) does not pay for `resolve_types` and three `compile` calls (~5 ms).
_BUILT: dict[type[Any], _Built] = {}


def _built(cls: type[Any]) -> _Built:
    built = _BUILT.get(cls)
    if built is None:
        _resolved()
        built = _BUILT[cls] = _compile(cls)
    return built


def _fast(cls: type[T]) -> Callable[[Mapping[str, Any], Any], T]:
    """The whole-object structuring function of `cls` (generated on first use)."""
    return _built(cls).structure


def _structure_one(data: Any, cls: type[T], client: Binding | None, lazy: bool = False) -> T:
    # `.__class__ is dict` first: what a JSON decoder gives, without an ABC check.
    if not (data.__class__ is dict or isinstance(data, Mapping)):
        raise APIResponseValidationError(
            f"expected a {_WRAP_KEYS[cls]} object, got {type(data).__name__}", body=data)
    if "id" not in data:
        raise APIResponseValidationError(f"{_WRAP_KEYS[cls]} payload has no 'id'", field="id",
                                         body=data)
    built = _BUILT.get(cls) or _built(cls)
    try:
        if lazy:  # the other fields on first read (`fill`)
            return built.shell(data, client)  # type: ignore[no-any-return]
        obj: T = built.structure(data, client)
    except Exception:  # some field is not what Astria documents: the field by field path
        obj = _lenient(data, cls, client, _WRAP_KEYS[cls])
    _older_names(obj, data, built.setters)
    return obj


def _older_names(obj: Any, data: Mapping[str, Any], setters: dict[str, Any]) -> None:
    """Fields older answers send under another name, set on `obj` (still being built)."""
    if obj.__class__ is Tune and "images" in data and not obj.orig_images:
        # The training images as `images` (API notes §2); `raw` stays as sent.
        with contextlib.suppress(ValueError):
            setters["s_orig_images"](obj, _urls(data["images"]))


def fill(obj: Tune | Prompt | Pack) -> None:
    """Set the fields of an object a client call built lazily (`shell`) from its `raw`, as
    `from_dict` would have: a field that cannot be read is left at its default and logged once.
    The models' `__getattr__` calls this on the first read of one of them."""
    cls, data = type(obj), obj.raw
    built = _BUILT[cls]  # a shell exists, so its functions do
    try:
        built.fill(obj, data)
    except Exception:  # as in `_structure_one`: field by field, each bad one reported
        for name, value in _lenient_values(data, cls, _WRAP_KEYS[cls]).items():
            built.setters[f"s_{name}"](obj, value)
    _older_names(obj, data, built.setters)


models._fill = fill  # see `models._fill`


def _id(data: Mapping[str, Any], kind: str) -> int:
    """The one field every object must have readable: an error naming it otherwise."""
    try:
        return _int(data["id"])
    except (TypeError, ValueError) as exc:
        raise APIResponseValidationError(
            f"{kind} payload field 'id' is invalid: {exc}", field="id", body=data) from None


# (kind, id, field) already logged: a bad object on a page the board reads every tick is
# reported once, not every tick. Bounded, so a server sending garbage forever costs nothing.
_REPORTED: dict[tuple[str, int, str], None] = {}
_REPORTED_CAP = 1024


def _lenient_values(data: Mapping[str, Any], cls: type[Any], kind: str) -> dict[str, Any]:
    """Every field but `id`, `raw` and the client, each by its hook: a field that cannot be
    read gets its default (None, or an empty tuple) and is reported once."""
    oid = _id(data, kind)
    values: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name in _OWN:
            continue
        try:
            values[field.name] = _HOOKS[field.type](data.get(field.name), None)
        except Exception as exc:
            values[field.name] = field.default
            _report(kind, oid, field.name, data.get(field.name), exc)
    return values


def _lenient(data: Mapping[str, Any], cls: type[T], client: Binding | None, kind: str) -> T:
    """Structure field by field: a field that cannot be read gets its default (None, or an
    empty tuple) and its value stays in `raw`; only a bad `id` makes the object unreadable."""
    values = _lenient_values(data, cls, kind)
    if "_client" in attrs.fields_dict(cls):
        values["client"] = client
    return cls(id=_id(data, kind), **values, raw=data)


def _report(kind: str, oid: int, field: str, value: Any, exc: Exception) -> None:
    key = (kind, oid, field)
    if key in _REPORTED:
        return
    if len(_REPORTED) >= _REPORTED_CAP:
        _REPORTED.pop(next(iter(_REPORTED)))
    _REPORTED[key] = None
    logger.warning("%s %d: field '%s' is not readable (%s: %.80r); it is left unset and the "
                   "value kept in .raw", kind, oid, field, exc, value)


def structure_many(items: Iterable[Any], cls: type[T], client: Binding | None = None
                   ) -> list[T]:
    """Structure a list page (lazily, as `structure`); an object that cannot be one (not an
    object, no readable `id`) is skipped and logged, so one bad object does not make the whole
    page raise."""
    out: list[T] = []
    for item in items:
        try:
            out.append(_structure_one(item, cls, client, lazy=True))
        except APIResponseValidationError as exc:
            logger.warning("skipped an unreadable %s on a list page: %s", _WRAP_KEYS[cls], exc)
    return out


def unwrap(data: Any, key: str) -> Any:
    """`{"tune": {...}}` → `{...}`; a flat object is returned as is."""
    if (data.__class__ is dict or isinstance(data, Mapping)) and len(data) == 1:
        inner = data.get(key)
        if isinstance(inner, Mapping):
            return inner
    return data


def structure(data: Any, cls: type[T], client: Binding | None = None, *, lazy: bool = True
              ) -> T:
    """Structure one payload (flat or wrapped under its resource name) into `cls`.

    Lazily by default, for answers this client decoded itself (nothing else holds them): the
    payload must be an object with a readable `id`, and the other fields are read from it on
    first use. `lazy=False` reads every field now (`from_dict`: the caller may change its dict
    afterwards).
    """
    built = _BUILT.get(cls)
    if lazy and built is not None and data.__class__ is dict and len(data) > 1:
        # The usual answer (a flat object, functions generated): straight to the shell, one
        # call for every request (`_structure_one` does the same checks the slow way).
        try:
            return built.shell(data, client)  # type: ignore[no-any-return]
        except Exception:  # no `id`, or one the fast path cannot read
            pass
    return _structure_one(unwrap(data, _WRAP_KEYS[cls]), cls, client, lazy)


P = TypeVar("P")


def structure_plain(data: Any, cls: type[P], what: str) -> P:
    """Structure a flat payload into one of the account models (`User`, `Workspace`, ...).

    The same lenient field hooks as tunes and prompts; unknown keys stay in `raw`, and a
    value that cannot be its field's type is an `APIResponseValidationError` naming it.
    """
    data = unwrap(data, what)
    if not isinstance(data, Mapping):
        raise APIResponseValidationError(
            f"expected a {what} object, got {type(data).__name__}", body=data)
    model: Any = cls
    fields = attrs.fields(attrs.resolve_types(model))
    values: dict[str, Any] = {}
    for field in fields:
        if field.name == "raw" or field.name not in data:
            continue
        try:
            values[field.name] = _HOOKS[field.type](data[field.name], field.type)
        except (ValueError, TypeError) as exc:
            # As for tunes and prompts: only the id is essential; another unreadable field
            # keeps its default, its value stays in `raw`, and it is logged once.
            if field.name == "id":
                raise APIResponseValidationError(
                    f"{what} payload field 'id' is invalid: {exc}", field="id",
                    body=data) from exc
            _report(what, values.get("id", 0), field.name, data[field.name], exc)
    if "id" not in values and any(f.name == "id" for f in fields):
        raise APIResponseValidationError(f"{what} payload has no 'id'", field="id", body=data)
    return cast(P, model(**values, raw=data))
