"""FakeAstria's control API (/_fake/requests, /_fake/faults) and its JSON-lines request log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from test_cli_support import CLEAN_ENV

from astria_async.testing import FakeAstria, FakeClock


async def test_request_log_over_http_needs_the_key_and_skips_control_calls(
    fake: FakeAstria,
) -> None:
    await fake.call("GET", "/tunes", params={"limit": "5"})
    await fake.call("GET", "/prompts/9.json")
    async with aiohttp.ClientSession() as anonymous, anonymous.get(
        f"{fake.url}/_fake/requests"
    ) as response:
        assert response.status == 401
    status, log = await fake.call("GET", "/_fake/requests")
    assert status == 200
    assert [(r["method"], r["path"], r["route"], r["status"]) for r in log] == [
        ("GET", "/tunes", "/tunes", 200), ("GET", "/prompts/9.json", "/prompts/9", 404)]
    assert log[0]["query"] == {"limit": "5"} and log[0]["fault"] is None
    assert log == [r.to_dict() for r in fake.requests]
    assert await fake.call("DELETE", "/_fake/requests") == (204, b"")
    assert fake.requests == [] and (await fake.call("GET", "/_fake/requests"))[1] == []


@pytest.mark.parametrize(("rule", "probe"), [
    ({"kind": "fail", "path_prefix": "/users", "status": 429, "retry_after": 3},
     (429, {"error": "Too Many Requests"})),
    ({"kind": "fail", "path_prefix": "/users", "status": 503, "body": {"message": "down"}},
     (503, {"message": "down"})),
    ({"kind": "malformed", "path_prefix": "/users", "body": "<html>oops</html>"},
     (200, b"<html>oops</html>")),
])
async def test_faults_over_http_behave_like_the_methods(
    fake: FakeAstria, rule: dict[str, Any], probe: tuple[int, Any],
) -> None:
    status, armed = await fake.call("POST", "/_fake/faults", json=rule)
    assert status == 201
    assert armed["kind"] == rule["kind"] and armed["path_prefix"] == "/users"
    assert armed["count"] == 1
    assert await fake.call("GET", "/users") == probe
    assert (await fake.call("GET", "/users"))[0] == 200  # count 1 used up
    assert fake.requests[0].fault == rule["kind"]


async def test_reset_and_slow_after_commit_over_http(fake: FakeAstria) -> None:
    rule = {"kind": "reset", "path_prefix": "/tunes", "method": "POST", "after_commit": True}
    assert (await fake.call("POST", "/_fake/faults", json=rule))[0] == 201
    body = {"tune": {"title": "t", "name": "man", "image_urls": ["https://example.com/a.jpg"]}}
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await fake.call("POST", "/tunes", json=body)
    assert len(fake.tunes) == 1
    slow = {"kind": "slow", "path_prefix": "/users", "seconds": 0.01, "count": None}
    status, armed = await fake.call("POST", "/_fake/faults", json=slow)
    assert (status, armed["count"], armed["seconds"]) == (201, None, 0.01)
    assert [r["kind"] for r in (await fake.call("GET", "/_fake/faults"))[1]] == ["slow"]
    assert await fake.call("DELETE", "/_fake/faults") == (204, b"")
    assert fake.faults.rules == []


@pytest.mark.parametrize(("rule", "message"), [
    ({"kind": "explode", "path_prefix": "/x"}, "kind must be one of: fail, reset, slow, malformed"),
    ({"path_prefix": "/x"}, "kind must be one of"),
    ({"kind": "fail", "path_prefix": "/x", "colour": "red"}, "colour"),
    ({"kind": "fail"}, "path_prefix"),
    ({"kind": "fail", "path_prefix": "/x", "status": "500"}, "status must be int"),
    ({"kind": "fail", "path_prefix": "/x", "after_commit": 1}, "after_commit must be bool"),
    ({"kind": "slow", "path_prefix": "/x", "seconds": True}, "seconds must be int or float"),
    ({"kind": "fail", "path_prefix": "/x", "count": 0}, "count must be >= 1"),
])
async def test_bad_fault_bodies_are_422_naming_the_problem(
    fake: FakeAstria, rule: dict[str, Any], message: str,
) -> None:
    status, body = await fake.call("POST", "/_fake/faults", json=rule)
    assert status == 422 and message in body["error"], body
    assert fake.faults.rules == []


async def test_control_edge_cases(fake: FakeAstria) -> None:
    assert (await fake.call("GET", "/_fake/nothing"))[0] == 404
    assert (await fake.call("POST", "/_fake/faults", data=b"[1]",
                            headers={"Content-Type": "application/json"}))[0] == 400
    assert (await fake.call("POST", "/_fake/faults", data=b"{oops",
                            headers={"Content-Type": "application/json"}))[0] == 400
    # Faults never touch the control routes themselves.
    fake.fail("/", 500, count=None)
    assert (await fake.call("GET", "/_fake/requests"))[0] == 200


async def test_request_log_file_gets_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    async with FakeAstria(clock=FakeClock.manual(), request_log=path) as fake:
        await fake.call("GET", "/users")
        await fake.call("GET", "/tunes/")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["method"], r["route"], r["status"]) for r in lines] == [
        ("GET", "/users", 200), ("GET", "/tunes", 200)]


def test_fake_server_command_log_and_workspace(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    args = [sys.executable, "-m", "astria_async.cli", "fake-server", "--api-key", "sd_local",
            "--workspace", "77", "--log", str(log)]
    with subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().split()[-1]
            auth = {"Authorization": "Bearer sd_local"}
            for workspace, expected in (("77", 200), ("78", 404)):
                request = urllib.request.Request(url + "/tunes",
                                                 headers={**auth, "X-Workspace-Id": workspace})
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        status = answer.status
                except urllib.error.HTTPError as error:
                    status = error.code
                    error.close()
                assert status == expected
        finally:
            proc.terminate()
            proc.wait(10)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["workspace"], r["status"]) for r in lines] == [("77", 200), ("78", 404)]
