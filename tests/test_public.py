"""The public surface: every exported name resolves, and importing the package stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import astria_async


@pytest.mark.parametrize("name", astria_async.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(astria_async, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = astria_async.Nope


def test_import_does_not_load_aiohttp() -> None:
    # `astria --help` and model-only users should not pay for aiohttp's import.
    code = "import sys, astria_async; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
