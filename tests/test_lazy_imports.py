"""What a client's construction does not load (start-up), and that lazy names still resolve."""

from __future__ import annotations

import pytest
from _fresh import loaded

import astria_async
import astria_async.callbacks as callbacks


def test_client_import_leaves_params_callbacks_and_structure_functions_unloaded() -> None:
    code = ("from astria_async import AstriaClient; import astria_async._convert as c\n"
            "assert not c._BUILT, c._BUILT")  # no structure function generated yet
    assert loaded(code, ("astria_async.params", "astria_async._families",
                         "astria_async.callbacks._receiver", "astria_async.callbacks._asgi",
                         "astria_async.callbacks._parse")) == []


def test_lazy_names_of_the_package_resolve_and_are_listed() -> None:
    from astria_async.params import PromptParams

    assert astria_async.PromptParams is PromptParams
    assert "TuneParams" in astria_async.__all__ and "TuneParams" in dir(astria_async)


def test_lazy_names_of_callbacks_resolve_and_are_listed() -> None:
    from astria_async.callbacks._receiver import CallbackReceiver

    assert callbacks.CallbackReceiver is CallbackReceiver
    assert set(callbacks.__all__) >= {"CallbackReceiver", "callback_url", "SecretFilter"}
    assert dir(callbacks) == sorted(callbacks.__all__)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = callbacks.no_such_name
