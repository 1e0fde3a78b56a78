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


def test_a_client_built_leaves_the_answer_models_unloaded() -> None:
    # Users, workspaces, the model catalogue, pack runs and inspections: built on first use.
    code = ("import sys; from astria_async import AstriaClient; AstriaClient(api_key='sk')\n"
            "built = [name for name, m in list(sys.modules.items()) if name.startswith("
            "'astria_async') and 'Workspace' in vars(m)]\n"
            "assert not built, built")
    assert loaded(code, ("astria_async.answers",)) == []


def test_lazy_names_of_the_package_resolve_and_are_listed() -> None:
    from astria_async.answers import ModelCatalog, User
    from astria_async.params import PromptParams

    assert astria_async.PromptParams is PromptParams
    assert astria_async.User is User and astria_async.ModelCatalog is ModelCatalog
    assert {"TuneParams", "User", "PackRun"} <= set(astria_async.__all__) & set(dir(astria_async))


def test_lazy_names_of_callbacks_resolve_and_are_listed() -> None:
    from astria_async.callbacks._receiver import CallbackReceiver

    assert callbacks.CallbackReceiver is CallbackReceiver
    assert set(callbacks.__all__) >= {"CallbackReceiver", "callback_url", "SecretFilter"}
    assert dir(callbacks) == sorted(callbacks.__all__)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = callbacks.no_such_name
