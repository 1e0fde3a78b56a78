"""parse_callback, callback URLs, the receiver (framework-agnostic and aiohttp), and waits."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

import astria_async
from astria_async import (
    AstriaClient,
    CallbackReceiver,
    Prompt,
    Tune,
    WaitPolicy,
    errors,
    parse_callback,
)
from astria_async.callbacks import SECRET_PARAM, RedactingAccessLogger, callback_url
from astria_async.testing import FakeAstria

SECRET = "s3cr3t-value-for-tests"
PROMPT = {"id": 7, "tune_id": 1504944, "text": "<lora:11:1> ohwx man",
          "images": ["https://mp.astria.ai/abc"], "user_error": None,
          "url": "https://api.astria.ai/tunes/1504944/prompts/7.json"}
TUNE = {"id": 11, "title": "job-1", "name": "man", "branch": "flux1",
        "trained_at": "2026-01-01T00:00:00.000Z", "url": "https://api.astria.ai/tunes/11.json"}


@pytest.fixture
async def client() -> AsyncIterator[AstriaClient]:
    async with AstriaClient("sd_key", base_url="http://127.0.0.1:9", callback_secret=SECRET,
                            wait=WaitPolicy(interval=60, max_interval=60, timeout=5)) as c:
        yield c


# --- parse_callback ----------------------------------------------------------------------


def test_parse_wrapped_flat_and_array() -> None:
    assert parse_callback({"prompt": PROMPT}) == Prompt.from_dict(PROMPT)
    assert parse_callback({"tune": TUNE}) == Tune.from_dict(TUNE)
    assert parse_callback(PROMPT) == Prompt.from_dict(PROMPT)
    assert parse_callback(TUNE) == Tune.from_dict(TUNE)
    pack = parse_callback([PROMPT, {"prompt": {**PROMPT, "id": 8}}])
    assert isinstance(pack, list) and [p.id for p in pack] == [7, 8]
    assert parse_callback({"prompts": [PROMPT]}) == [Prompt.from_dict(PROMPT)]
    assert astria_async.parse_callback is parse_callback


def test_parse_bytes_and_str() -> None:
    raw = json.dumps({"prompt": PROMPT})
    assert parse_callback(raw) == parse_callback(raw.encode()) == Prompt.from_dict(PROMPT)


def test_parse_tells_kinds_apart_without_a_wrapper() -> None:
    # A tune without a URL, a prompt heartbeat with only id and text (astria-api §12).
    assert isinstance(parse_callback({"id": 1, "title": "t", "trained_at": None}), Tune)
    heartbeat = parse_callback({"prompt": {"id": 3, "text": "x"}})
    assert isinstance(heartbeat, Prompt) and not heartbeat.is_finished


@pytest.mark.parametrize("body", [
    b"", b"not json", b"\xff\xfe", "[1, 2]", "42", '"text"', "{}", '{"id": 5}',
    '{"tune": "nope"}', '{"prompt": {"text": "no id"}}', '{"prompt": {"id": "x"}}',
    '[{"images": 5}]',
])
def test_garbage_raises_callback_error(body: bytes | str) -> None:
    with pytest.raises(errors.CallbackError) as caught:
        parse_callback(body)
    assert isinstance(caught.value, errors.AstriaError)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
                    max_leaves=20))
def test_parse_never_raises_anything_but_callback_error(data: Any) -> None:
    try:
        result = parse_callback(json.dumps(data))
    except errors.CallbackError:
        return
    items = result if isinstance(result, list) else [result]
    assert all(isinstance(item, (Tune, Prompt)) for item in items)


async def test_parse_binds_to_a_client(client: AstriaClient) -> None:
    assert parse_callback({"prompt": PROMPT})._client is None  # type: ignore[union-attr]
    bound = parse_callback({"prompt": PROMPT}, client)
    assert isinstance(bound, Prompt) and bound._client is client


# --- callback URLs -----------------------------------------------------------------------


def test_callback_url_adds_context_and_secret(client: AstriaClient) -> None:
    url = client.callback_url("https://example.com/hooks/astria?src=app", order=42, user="u1")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "example.com", "/hooks/astria")
    assert parse_qs(parts.query) == {"src": ["app"], "order": ["42"], "user": ["u1"],
                                     SECRET_PARAM: [SECRET]}
    with pytest.raises(ValueError, match="absolute"):
        client.callback_url("/relative")
    with pytest.raises(ValueError, match="reserved"):
        reserved: dict[str, Any] = {SECRET_PARAM: "mine"}
        callback_url("https://x.test/", SECRET, **reserved)


async def test_each_client_gets_its_own_random_secret() -> None:
    async with AstriaClient("k") as a, AstriaClient("k") as b:
        sa = parse_qs(urlsplit(a.callback_url("https://x.test/cb")).query)[SECRET_PARAM][0]
        sb = parse_qs(urlsplit(b.callback_url("https://x.test/cb")).query)[SECRET_PARAM][0]
        assert sa != sb and len(sa) >= 32
        assert sa not in repr(a)
    with pytest.raises(ValueError):
        AstriaClient("k", callback_secret="")


# --- the receiver ------------------------------------------------------------------------


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def test_handle_checks_the_secret_in_constant_time(
        client: AstriaClient, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    receiver = CallbackReceiver(client)
    body = json.dumps({"prompt": PROMPT}).encode()
    assert (await receiver.handle({}, body))[0] == 403
    assert (await receiver.handle({SECRET_PARAM: "wrong"}, body))[0] == 403
    status, answer, headers = await receiver.handle({SECRET_PARAM: SECRET}, body)
    assert (status, json.loads(answer)) == (200, {"ok": True, "kind": "prompt", "id": 7})
    assert dict(headers) == {"content-type": "application/json"}
    assert compared and all(b == SECRET.encode() for _, b in compared)


async def test_handle_refuses_oversize_and_non_json(client: AstriaClient) -> None:
    receiver = CallbackReceiver(client, max_bytes=100)
    ok = {SECRET_PARAM: SECRET}
    assert (await receiver.handle(ok, b"{" + b" " * 200 + b"}")).status == 413
    answer = await receiver.handle(ok, b"<html>")
    assert answer.status == 400 and "not JSON" in answer.json()["error"]
    with pytest.raises(ValueError):
        CallbackReceiver(client, max_bytes=0)


async def test_callback_ends_the_wait_before_the_next_poll(client: AstriaClient) -> None:
    pending = Prompt.from_dict({**PROMPT, "images": []}, client)
    waiting = asyncio.ensure_future(client.prompts.wait_images(pending))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    received: list[tuple[Any, Mapping[str, str]]] = []

    async def on_object(obj: Any, context: Mapping[str, str]) -> None:
        received.append((obj, context))

    receiver = CallbackReceiver(client, on_object=on_object)
    query = _query(client.callback_url("https://x.test/cb", order="o-9"))
    answer = await receiver.handle(query, json.dumps({"prompt": PROMPT}).encode())
    assert answer.status == 200
    done = await asyncio.wait_for(waiting, 1)  # the policy's interval is 60 s: no poll ran
    assert done.images == ("https://mp.astria.ai/abc",) and done._client is client
    assert received[0][1] == {"order": "o-9"}


async def test_imageless_callback_is_progress_not_an_end(client: AstriaClient) -> None:
    pending = Prompt.from_dict({**PROMPT, "images": []}, client)
    waiting = asyncio.ensure_future(client.prompts.wait_images(pending))
    receiver = CallbackReceiver(client)
    ok = {SECRET_PARAM: SECRET}
    heartbeat = {"prompt": {"id": 7, "text": PROMPT["text"]}}
    assert (await receiver.handle(ok, json.dumps(heartbeat).encode()))[0] == 200
    await asyncio.sleep(0.01)
    assert not waiting.done()
    failed = {"prompt": {**PROMPT, "images": [], "user_error": "NSFW"}}
    assert (await receiver.handle(ok, json.dumps(failed).encode()))[0] == 200
    with pytest.raises(errors.PromptFailedError) as caught:
        await asyncio.wait_for(waiting, 1)
    assert caught.value.prompt.user_error == "NSFW"


async def test_pack_array_and_tune_callbacks_feed_the_boards(client: AstriaClient) -> None:
    receiver = CallbackReceiver(client)
    ok = {SECRET_PARAM: SECRET}
    answer = await receiver.handle(ok, json.dumps([PROMPT, {**PROMPT, "id": 8}]).encode())
    assert (answer.status, answer.json()["ids"]) == (200, [7, 8])
    assert (await client.prompts.wait_images(8)).id == 8  # already there: no request
    await receiver.handle(ok, json.dumps({"tune": TUNE}).encode())
    assert (await client.tunes.wait_trained(11)).is_trained


async def test_secret_never_logged(client: AstriaClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = CallbackReceiver(client)
    url = client.callback_url("https://x.test/cb")
    for body in (b"garbage", json.dumps({"prompt": PROMPT}).encode()):
        await receiver.handle(_query(url), body)
    await receiver.handle({SECRET_PARAM: SECRET + "x"}, b"{}")
    assert SECRET not in caplog.text and "callback" in caplog.text
    assert SECRET not in repr(receiver)


def test_model_reprs_hide_callback_secrets(client: AstriaClient) -> None:
    url = client.callback_url("https://x.test/cb", order=3)
    prompt = Prompt.from_dict({**PROMPT, "callback": url})
    tune = Tune.from_dict({**TUNE, "callback": url})
    assert prompt.callback == url  # the value itself is intact
    for text in (repr(prompt), repr(tune)):
        assert SECRET not in text and "order=3" in text and f"{SECRET_PARAM}=***" in text


async def test_aiohttp_app_route(client: AstriaClient) -> None:
    receiver = CallbackReceiver(client, max_bytes=4096)
    server = TestServer(receiver.app())
    async with TestClient(server) as http:
        path = "/astria/callback"
        resp = await http.post(path, params={SECRET_PARAM: SECRET}, json={"prompt": PROMPT})
        assert resp.status == 200 and (await resp.json())["id"] == 7
        resp = await http.post(path, params={SECRET_PARAM: "no"}, json={"prompt": PROMPT})
        assert resp.status == 403
        resp = await http.post(path, params={SECRET_PARAM: SECRET}, data=b"x" * 5000)
        assert resp.status == 413
        resp = await http.post(path, params={SECRET_PARAM: SECRET}, data=b"{nope")
        assert resp.status == 400
    assert client._prompt_board.get(7) is not None


def test_redacting_access_logger_drops_the_query(caplog: pytest.LogCaptureFixture) -> None:
    class Req:
        remote = "127.0.0.1"
        method = "POST"
        path = "/astria/callback"
        path_qs = f"/astria/callback?{SECRET_PARAM}={SECRET}"

    class Resp:
        status = 200

    caplog.set_level(logging.INFO)
    log = RedactingAccessLogger(logging.getLogger("test.access"), "")
    log.log(Req(), Resp(), 0.01)  # type: ignore[arg-type]
    assert "/astria/callback" in caplog.text and SECRET not in caplog.text


# --- end to end: FakeAstria calls back -----------------------------------------------------


@pytest.fixture
def astria_fake_options() -> dict[str, Any]:
    return {"train_seconds": 1.0, "fast_train_seconds": 0.5, "prompt_seconds": 0.3}


async def test_fake_callback_resolves_the_wait_without_polling(astria_fake: FakeAstria) -> None:
    slow = WaitPolicy(interval=30, max_interval=30, timeout=10)  # polls would come in 30 s
    async with AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url,
                            wait=slow) as c:
        server = TestServer(CallbackReceiver(c).app())
        await server.start_server()
        try:
            tune = astria_fake.add_tune(branch="sd15")
            started = time.monotonic()
            prompt = await c.prompts.create(
                tune["id"], text="sks man",
                callback=c.callback_url(str(server.make_url("/astria/callback")), job=1))
            done = await prompt.wait_images()
            assert done.succeeded and time.monotonic() - started < 5
            assert astria_fake.count("GET", "/prompts*") == 0  # the callback did it
            # The receiver fed the board before it answered: the wait may end before the fake
            # has recorded the answer to its delivery.
            await astria_fake.flush_callbacks()
            assert [cb.status for cb in astria_fake.callbacks] == [200]
        finally:
            await server.close()
