"""Configuration: arguments, environment variables and their precedence."""

from __future__ import annotations

import pytest

from astria_async import AstriaClient, ConfigurationError
from astria_async._config import Settings, resolve

BASE = {"api_key": None, "base_url": None, "workspace_id": None, "timeout": None, "retry": None,
        "max_concurrency": 4, "connector_limit": 4, "idempotent": False}


def settings(env: dict[str, str], **kw: object) -> Settings:
    return resolve(**{**BASE, **kw}, env=env)  # type: ignore[arg-type]


def test_key_precedence_auth_token_then_api_key() -> None:
    env = {"ASTRIA_AUTH_TOKEN": "sd_a", "ASTRIA_API_KEY": "sd_b"}
    assert settings(env).api_key == "sd_a"
    assert settings({"ASTRIA_API_KEY": "sd_b"}).api_key == "sd_b"
    assert settings(env, api_key="sd_c").api_key == "sd_c"


def test_missing_key_names_the_variables() -> None:
    with pytest.raises(ConfigurationError) as info:
        settings({})
    assert "ASTRIA_AUTH_TOKEN" in str(info.value) and "ASTRIA_API_KEY" in str(info.value)


def test_base_url_default_env_and_argument() -> None:
    env = {"ASTRIA_API_KEY": "k"}
    assert settings(env).base_url == "https://api.astria.ai"
    env["ASTRIA_BASE_URL"] = "http://localhost:3000/"
    assert settings(env).base_url == "http://localhost:3000"
    assert settings(env, base_url="http://h:1").base_url == "http://h:1"
    with pytest.raises(ConfigurationError, match="base_url"):
        settings(env, base_url="ftp://x")


@pytest.mark.parametrize(("env", "arg", "header"), [
    ({"WORKSPACE_ID": "5", "ASTRIA_WORKSPACE_ID": "6"}, None, "5"),
    ({"ASTRIA_WORKSPACE_ID": "6"}, None, "6"),
    ({"WORKSPACE_ID": "5"}, 9, "9"),
    ({"WORKSPACE_ID": "personal"}, None, None),
    ({}, "all", "all"),
    ({}, None, None),
])
def test_workspace_header(env: dict[str, str], arg: object, header: str | None) -> None:
    s = settings({"ASTRIA_API_KEY": "k", **env}, workspace_id=arg)
    assert s.headers().get("X-Workspace-Id") == header


def test_client_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASTRIA_API_KEY", "sd_env")
    monkeypatch.setenv("WORKSPACE_ID", "12")
    client = AstriaClient()
    assert client.workspace_id == "12"
    assert "sd_env" not in repr(client)


def test_client_without_key_fails_early(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ASTRIA_API_KEY", "ASTRIA_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="ASTRIA_API_KEY"):
        AstriaClient()


@pytest.mark.parametrize("kw", [{"timeout": 0}, {"max_concurrency": 0}, {"connector_limit": 0}])
def test_bad_settings_are_refused(kw: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError):
        AstriaClient("k", **kw)  # type: ignore[arg-type]
