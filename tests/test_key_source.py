"""Where the API key comes from: arguments, variables, Astria's CLI config; named in a 401."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli_support import FakeThread, run_cli, stdout_json

from astria_async import AstriaClient, AuthenticationError, ConfigurationError
from astria_async._config import Settings, config_path, find_key, resolve
from astria_async.testing import FakeAstria

BASE = {"api_key": None, "base_url": None, "workspace_id": None, "timeout": None, "retry": None,
        "max_concurrency": 4, "connector_limit": 4, "idempotent": False}


def settings(env: dict[str, str], **kw: object) -> Settings:
    return resolve(**{**BASE, **kw}, env=env)  # type: ignore[arg-type]


def write_config(directory: Path, name: str = "config.json", **data: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(data))
    return path


def test_precedence_argument_variables_then_config(tmp_path: Path) -> None:
    path = write_config(tmp_path, api_key="sd_file", base_url="http://file:1/",
                        workspace_id="77")
    env = {"ASTRIA_CONFIG_DIR": str(tmp_path)}
    from_file = settings(env)
    assert (from_file.api_key, from_file.key_source) == ("sd_file", str(path))
    assert (from_file.base_url, from_file.workspace_id) == ("http://file:1", "77")
    env |= {"ASTRIA_BASE_URL": "http://env:2", "WORKSPACE_ID": "5"}
    assert (settings(env).base_url, settings(env).workspace_id) == ("http://env:2", "5")
    env["ASTRIA_API_KEY"] = "sd_b"
    by_var = settings(env)
    assert (by_var.api_key, by_var.key_source) == ("sd_b", "ASTRIA_API_KEY")
    # The config is read only when no key is set elsewhere: its URL does not get an env key.
    assert settings({**env, "ASTRIA_BASE_URL": ""}).base_url == "https://api.astria.ai"
    env["ASTRIA_AUTH_TOKEN"] = "sd_a"
    both = settings(env)
    assert both.key_note == "key from ASTRIA_AUTH_TOKEN; ASTRIA_API_KEY is also set and differs"
    arg = settings(env, api_key="sd_c")
    assert arg.key_note == ("key from the api_key argument; ASTRIA_AUTH_TOKEN and "
                            "ASTRIA_API_KEY are also set and differ")
    assert settings({**env, "ASTRIA_API_KEY": "sd_a"}).key_note == "key from ASTRIA_AUTH_TOKEN"


def test_profiles_and_broken_files(tmp_path: Path) -> None:
    env = {"ASTRIA_CONFIG_DIR": str(tmp_path)}
    write_config(tmp_path, "config.staging.json", api_key="sd_staging")
    assert config_path(env) == tmp_path / "config.json"
    assert find_key(None, env, "staging").key == "sd_staging"
    assert find_key(None, {**env, "ASTRIA_PROFILE": "staging"}).key == "sd_staging"
    assert find_key(None, env).key is None
    for bad in ("../x", "a/b", ".."):
        with pytest.raises(ConfigurationError, match="profile"):
            config_path(env, bad)
    (tmp_path / "config.json").write_text("{not json")
    assert find_key(None, env).key is None
    write_config(tmp_path, api_key=["x"], base_url=True)
    assert find_key(None, env).config == {}
    assert config_path({}) == Path.home() / ".astria" / "config.json"
    with pytest.raises(ConfigurationError, match=r"config\.json"):
        settings(env)


async def test_a_401_names_where_the_key_came_from(monkeypatch: pytest.MonkeyPatch,
                                                  astria_fake: FakeAstria) -> None:
    monkeypatch.setenv("ASTRIA_AUTH_TOKEN", "sd_wrong")
    monkeypatch.setenv("ASTRIA_API_KEY", astria_fake.api_key)
    async with AstriaClient(base_url=astria_fake.url) as client:
        assert client.key_source == "ASTRIA_AUTH_TOKEN"
        with pytest.raises(AuthenticationError) as info:
            await client.tunes.list()
    assert str(info.value).endswith(
        "(key from ASTRIA_AUTH_TOKEN; ASTRIA_API_KEY is also set and differs)")


@pytest.fixture
def thread() -> Iterator[FakeThread]:
    with FakeThread() as running:
        yield running


def test_cli_reads_the_official_cli_config_and_says_so(thread: FakeThread,
                                                       tmp_path: Path) -> None:
    path = write_config(tmp_path, "config.local.json", api_key=thread.api_key,
                        base_url=thread.url)
    env = {"ASTRIA_CONFIG_DIR": str(tmp_path)}
    result = run_cli("-v", "--profile", "local", "--json", "tunes", "list", env=env)
    assert result.exit_code == 0, result.stderr
    assert stdout_json(result) == []
    assert f"key from {path}" in result.stderr
    missing = run_cli("tunes", "list", env=env)
    assert missing.exit_code == 1 and "config.json" in missing.stderr
    bad = run_cli("--profile", "../etc", "tunes", "list", env=env)
    assert bad.exit_code == 2 and "profile" in bad.stderr


def test_cli_401_says_the_key_came_from_the_option(thread: FakeThread) -> None:
    result = run_cli("--base-url", thread.url, "--api-key", "sd_wrong", "tunes", "list",
                     env={"ASTRIA_API_KEY": thread.api_key})
    assert result.exit_code == 1
    assert "(key from --api-key; ASTRIA_API_KEY is also set and differs)" in result.stderr
