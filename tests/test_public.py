"""The public surface: every exported name resolves, and importing the package stays cheap."""

from __future__ import annotations

import pytest
from _fresh import loaded

import astria_async


@pytest.mark.parametrize("name", astria_async.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(astria_async, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = astria_async.Nope


def test_import_does_not_load_aiohttp() -> None:
    # `astria --help` and model-only users should not pay for aiohttp's import.
    assert loaded("import astria_async", ("aiohttp",)) == []
