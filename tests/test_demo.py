"""The offline demo and the standalone fake server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from test_cli_support import CLEAN_ENV, run_cli, stdout_json

# Blocks click and rich: `python -m astria_async demo` must work without the [cli] extra.
WITHOUT_CLI = ("import sys; sys.modules['click'] = None; sys.modules['rich'] = None; "
               "from astria_async.__main__ import main; sys.exit(main(sys.argv[1:]))")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}


def test_python_m_demo_runs_without_click_or_rich(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_CLI, "demo", "--prompts", "2"],
                          cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    pngs = sorted((tmp_path / "astria-demo").glob("*.png"))
    assert len(pngs) == 4 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert "trained" in done.stdout and "astria-demo" in done.stdout
    other = subprocess.run([sys.executable, "-c", WITHOUT_CLI, "tunes", "list"],
                           env=clean_env(), capture_output=True, text=True, timeout=60)
    assert other.returncode == 2 and "astria-async[cli]" in other.stderr


def test_python_m_astria_async_forwards_to_the_cli(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "astria_async", "--help"], env=clean_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "download-all" in done.stdout


def test_astria_demo_command(tmp_path: Path) -> None:
    result = run_cli("--json", "demo", "--out", str(tmp_path / "d"), "--prompts", "3")
    assert result.exit_code == 0, result.stderr
    data = stdout_json(result)
    assert len(data["prompt_ids"]) == 3 and len(data["files"]) == 6
    assert all(Path(f).is_file() for f in data["files"])
    assert "Fake Astria API listening" in result.stderr  # narration on stderr, JSON on stdout


def test_fake_server_command_serves_until_killed() -> None:
    exe = [sys.executable, "-m", "astria_async.cli"]
    with subprocess.Popen([*exe, "fake-server", "--api-key", "sd_local"], env=clean_env(),
                          stdout=subprocess.PIPE, text=True) as proc:
        _check_fake_server(proc)


def _check_fake_server(proc: subprocess.Popen[str]) -> None:
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        assert url.startswith("http://127.0.0.1:")
        request = urllib.request.Request(url + "/users",
                                         headers={"Authorization": "Bearer sd_local"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.load(answer)["email"]
    finally:
        proc.terminate()
        proc.wait(10)
