"""The pytest plugin, the standalone server and the shipped sample images."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from astria_async.testing import SAMPLES_DIR, sample_images

ROOT = Path(__file__).resolve().parents[1]

USES_FIXTURES = """
import pytest
from astria_async.testing import FakeClock

@pytest.fixture
def astria_fake_options():
    return {"clock": FakeClock.manual(), "train_seconds": 5}

async def test_fake_fixture(astria_fake):
    tune = astria_fake.add_tune(branch="sd15", trained=False)
    assert astria_fake.tune(tune["id"])["trained_at"] is None
    await astria_fake.advance(5)
    assert astria_fake.tune(tune["id"])["trained_at"]

async def test_client_fixture(astria_client, astria_fake):
    tune = await astria_client.tunes.get(1504944)
    assert tune.id == 1504944
    assert astria_fake.count("GET", "/tunes/1504944") == 1
"""

WITHOUT_ASYNCIO = """
def test_sync_fixture_still_there(astria_fake_options, request):
    assert "train_seconds" in astria_fake_options
    assert "astria_fake" not in request.fixturenames
"""


def _pytest(tmp_path: Path, source: str, *plugins: str,
            pythonpath: list[Path]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(source))
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-p", "astria_async.testing.plugin", *plugins, "test_user.py"]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath)}
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_plugin_fixtures_with_pytest_asyncio(tmp_path: Path) -> None:
    result = _pytest(tmp_path, USES_FIXTURES, "-p", "pytest_asyncio.plugin",
                     "-o", "asyncio_mode=auto", pythonpath=[ROOT])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_plugin_without_pytest_asyncio_keeps_pytest_working(tmp_path: Path) -> None:
    # A package that fails to import shadows the installed pytest_asyncio.
    shadow = tmp_path / "shadow" / "pytest_asyncio"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('not installed')\n")
    result = _pytest(tmp_path, WITHOUT_ASYNCIO, pythonpath=[shadow.parent, ROOT])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_standalone_server_prints_url_and_key() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "astria_async.testing", "--port", "0", "--api-key", "sd_demo",
         "--train-seconds", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("FakeAstria listening on http://127.0.0.1:")
        url = first.rsplit(" ", 1)[1].strip()
        assert proc.stdout.readline().strip() == f"ASTRIA_BASE_URL={url}"
        assert proc.stdout.readline().strip() == "ASTRIA_API_KEY=sd_demo"
        request = urllib.request.Request(f"{url}/users",
                                         headers={"Authorization": "Bearer sd_demo"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["id"] == 1001
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("path", sample_images(), ids=lambda p: p.name)
def test_sample_images_are_pngs(path: Path) -> None:
    data = path.read_bytes()
    assert path.parent == SAMPLES_DIR
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    assert int.from_bytes(data[16:20], "big") == 512


def test_three_samples_ship() -> None:
    assert len(sample_images()) == 3


def _readme_pytest_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Testing your integration offline", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_pytest_example_runs_verbatim_in_an_empty_folder(tmp_path: Path) -> None:
    # No config file, no asyncio_mode, plugins found the way a user's pytest finds them.
    (tmp_path / "test_readme.py").write_text(_readme_pytest_example())
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "test_readme.py"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


MARKED_ALREADY = """
import pytest

@pytest.mark.asyncio
async def test_marked(astria_fake):
    assert astria_fake.url

class TestInAClass:
    async def test_method(self, astria_client):
        assert (await astria_client.tunes.get(1504944)).id == 1504944
"""


def test_plugin_marks_async_tests_using_its_fixtures(tmp_path: Path) -> None:
    result = _pytest(tmp_path, MARKED_ALREADY, "-p", "pytest_asyncio.plugin",
                     pythonpath=[ROOT])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
