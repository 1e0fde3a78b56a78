"""The offline demo and the standalone fake server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

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


def _without_click(tmp_path: Path) -> dict[str, str]:
    """An environment whose `import click` fails, as after `pip install astria-async`."""
    shadow = tmp_path / "shadow" / "click"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'click'\", name='click')\n")
    return {**clean_env(), "PYTHONPATH": str(shadow.parent)}


def test_the_astria_script_without_the_cli_extra_says_what_to_install(tmp_path: Path) -> None:
    from test_cli_support import ASTRIA

    env = _without_click(tmp_path)
    for args in (["tunes", "list"], ["--help"], []):
        done = subprocess.run([str(ASTRIA), *args], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == ("astria: the astria command needs the CLI extra: pip "
                                       "install 'astria-async[cli]' (the offline demo runs "
                                       "without it: astria demo)")
    demo = subprocess.run([str(ASTRIA), "demo", "--prompts", "1", "-o", "d"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert demo.returncode == 0, demo.stderr
    assert len(list((tmp_path / "d").glob("*.png"))) == 2


def test_the_astria_script_runs_the_cli() -> None:
    from test_cli_support import ASTRIA

    done = subprocess.run([str(ASTRIA), "--version"], env=clean_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "astria" in done.stdout


def test_script_in_process_without_the_extra(monkeypatch: Any, tmp_path: Path,
                                             capsys: Any) -> None:
    from astria_async.__main__ import main, script

    monkeypatch.setitem(sys.modules, "rich", None)
    assert script(["tunes", "list"]) == 2
    assert main(["tunes", "list"]) == 2
    assert "pip install 'astria-async[cli]'" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert script(["demo", "--prompts", "1"]) == 0
    assert "astria-demo" in capsys.readouterr().out
