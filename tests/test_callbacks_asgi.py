"""The ASGI receiver (called directly, message by message), secrets in the path, SecretFilter."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from astria_async import AstriaClient, WaitPolicy
from astria_async.callbacks import (
    SECRET_PARAM,
    CallbackReceiver,
    CallbackResponse,
    SecretFilter,
    callback_url,
    parse_callback,
    redact,
)
from astria_async.errors import CallbackError

SECRET = "asgi-secret-value-for-tests"
PROMPT = {"id": 7, "tune_id": 1, "text": "ohwx man", "images": ["https://mp.astria.ai/a"],
          "url": "https://api.astria.ai/tunes/1/prompts/7.json"}
BODY = json.dumps({"prompt": PROMPT}).encode()


@pytest.fixture
async def client() -> AsyncIterator[AstriaClient]:
    async with AstriaClient("sd_key", base_url="http://127.0.0.1:9", callback_secret=SECRET,
                            wait=WaitPolicy(interval=60, max_interval=60, timeout=5)) as c:
        yield c


class Exchange:
    """One ASGI request: the body chunks offered, how many were read, what was sent back."""

    def __init__(self, chunks: list[bytes], *, disconnect: bool = False) -> None:
        self.chunks = chunks
        self.read = 0
        self.disconnect = disconnect
        self.sent: list[MutableMapping[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.read >= len(self.chunks):
            assert self.disconnect, "the app read past the end of the body"
            return {"type": "http.disconnect"}
        self.read += 1
        more = self.read < len(self.chunks) or self.disconnect
        return {"type": "http.request", "body": self.chunks[self.read - 1], "more_body": more}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def answer(self) -> Any:
        return json.loads(self.sent[1]["body"])


async def call(receiver: CallbackReceiver, chunks: list[bytes], *, query: str = "",
               path: str = "/astria/callback", method: str = "POST",
               headers: list[tuple[bytes, bytes]] | None = None,
               disconnect: bool = False) -> Exchange:
    exchange = Exchange(chunks, disconnect=disconnect)
    scope = {"type": "http", "method": method, "path": path,
             "query_string": query.encode(), "headers": headers or []}
    await receiver.asgi()(scope, exchange.receive, exchange.send)
    return exchange


def q(secret: str = SECRET, **more: str) -> str:
    return "&".join(f"{k}={v}" for k, v in {**more, SECRET_PARAM: secret}.items())


async def test_asgi_feeds_the_waits_and_answers_json(client: AstriaClient) -> None:
    seen: list[dict[str, str]] = []
    receiver = CallbackReceiver(client, on_object=lambda obj, ctx: seen.append(dict(ctx)))
    done = await call(receiver, [BODY[:10], BODY[10:]], query=q(order="9"))
    assert done.status == 200 and done.answer == {"ok": True, "kind": "prompt", "id": 7}
    headers = dict(done.sent[0]["headers"])
    assert headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(done.sent[1]["body"])
    assert seen == [{"order": "9"}]
    assert (await client.prompts.wait_images(7)).images  # fed: no request needed


async def test_asgi_wrong_secret_is_403_before_the_body(client: AstriaClient) -> None:
    receiver = CallbackReceiver(client)
    announced = [(b"content-length", b"52428800")]
    for query in (q("wrong"), "", "order=1"):
        done = await call(receiver, [b"x" * 1000] * 3, query=query, headers=announced)
        assert (done.status, done.read) == (403, 0)
        assert SECRET not in done.sent[1]["body"].decode()


async def test_asgi_oversize_is_413_announced_or_streamed(client: AstriaClient) -> None:
    receiver = CallbackReceiver(client, max_bytes=1000)
    announced = await call(receiver, [b"x" * 10], query=q(),
                           headers=[(b"Content-Length", b"52428800")])
    assert (announced.status, announced.read) == (413, 0)
    streamed = await call(receiver, [b"x" * 600] * 5, query=q(),
                          headers=[(b"content-length", b"nonsense")])
    assert (streamed.status, streamed.read) == (413, 2)  # stopped reading at the limit
    assert "1000 bytes" in streamed.answer["error"]


@pytest.mark.parametrize("body", [b"<html>", b"[1, 2]", b'{"hello": "world"}', b"",
                                  b"[" * 100_000 + b"]" * 100_000])
async def test_asgi_non_json_and_non_astria_is_400(client: AstriaClient, body: bytes) -> None:
    done = await call(CallbackReceiver(client, max_bytes=10**6), [body], query=q())
    assert done.status == 400 and done.answer["error"]


def test_deep_nesting_is_a_callback_error() -> None:
    deep = {"prompt": PROMPT, "extra": json.loads("[" * 500 + "]" * 500)}
    assert parse_callback(deep).id == 7  # type: ignore[union-attr]
    with pytest.raises(CallbackError, match="nested too deeply to decode"):
        depth = sys.getrecursionlimit() * 50
        parse_callback(b"[" * depth + b"]" * depth)


async def test_asgi_refuses_other_methods_and_disconnects_quietly(client: AstriaClient) -> None:
    receiver = CallbackReceiver(client)
    get = await call(receiver, [], query=q(), method="GET")
    assert get.status == 405 and dict(get.sent[0]["headers"])[b"allow"] == b"POST"
    gone = await call(receiver, [BODY[:5]], query=q(), disconnect=True)
    assert gone.sent == []
    with pytest.raises(ValueError, match="HTTP only"):
        await receiver.asgi()({"type": "websocket"}, gone.receive, gone.send)
    assert "CallbackReceiver" in repr(receiver.asgi()) and SECRET not in repr(receiver.asgi())


async def test_asgi_answers_lifespan(client: AstriaClient) -> None:
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await CallbackReceiver(client).asgi()({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete",
                                        "lifespan.shutdown.complete"]


# --- the secret in the path --------------------------------------------------------------


async def test_secret_in_path_urls_are_accepted(client: AstriaClient) -> None:
    url = client.callback_url("https://x.test/astria/callback/?src=a", secret_in_path=True,
                              order=3)
    assert url == f"https://x.test/astria/callback/{SECRET}?src=a&order=3"
    assert callback_url("https://x.test/cb", "a/b c", secret_in_path=True) == \
        "https://x.test/cb/a%2Fb%20c"
    receiver = CallbackReceiver(client)
    ok = await call(receiver, [BODY], path=f"/astria/callback/{SECRET}", query="order=3")
    assert ok.status == 200
    for path in ("/astria/callback/wrong", "/astria/callback", "/", ""):
        assert (await call(receiver, [BODY], path=path)).status == 403
    # A query secret, when given, decides (a right path does not rescue a wrong query).
    assert (await call(receiver, [BODY], path=f"/cb/{SECRET}", query=q("no"))).status == 403
    assert (await receiver.handle({}, BODY, path=f"/hooks/{SECRET}/")).status == 200


async def test_aiohttp_route_accepts_the_path_form(client: AstriaClient) -> None:
    async with TestClient(TestServer(CallbackReceiver(client).app())) as http:
        resp = await http.post(f"/astria/callback/{SECRET}", data=BODY)
        assert resp.status == 200 and (await resp.json())["id"] == 7
        resp = await http.post("/astria/callback/nope", data=BODY)
        assert resp.status == 403


def test_response_is_a_typed_tuple() -> None:
    answer = CallbackResponse.of(400, {"error": "x"})
    status, body, headers = answer
    assert (status, body, headers) == (400, b'{"error":"x"}',
                                       (("content-type", "application/json"),))
    assert answer.json() == {"error": "x"}


# --- SecretFilter ------------------------------------------------------------------------


def _record(msg: str, args: Any) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)


def test_secret_filter_masks_uvicorn_style_args() -> None:
    record = _record('%s - "%s %s HTTP/%s" %d',
                     ("127.0.0.1:5", "POST", f"/astria/callback?order=1&{SECRET_PARAM}={SECRET}",
                      "1.1", 200))
    assert SecretFilter().filter(record) is True
    assert record.getMessage() == \
        f'127.0.0.1:5 - "POST /astria/callback?order=1&{SECRET_PARAM}=*** HTTP/1.1" 200'


def test_secret_filter_masks_messages_dicts_objects_paths_and_literals() -> None:
    class Url:
        def __str__(self) -> str:
            return f"https://x.test/astria/callback/{SECRET}"

    flt = SecretFilter("literal-secret", paths=("/astria/callback", "/hooks/"))
    record = _record(f"GET /hooks/{SECRET}?a=1 %(url)s %(n)d literal-secret", None)
    record.args = {"url": Url(), "n": 5}
    flt.filter(record)
    text = record.getMessage()
    assert SECRET not in text and "literal-secret" not in text
    assert text == "GET /hooks/***?a=1 https://x.test/astria/callback/*** 5 ***"
    record = _record("%s %s %s", (None, 1.5, "plain"))
    flt.filter(record)
    assert record.args == (None, 1.5, "plain")
    json_line = _record(f'{{"http.url": "https://x.test/cb?{SECRET_PARAM}={SECRET}"}}', None)
    SecretFilter(paths=()).filter(json_line)
    assert SECRET not in json_line.getMessage() and json_line.getMessage().endswith('***"}')
    assert redact(f"cb?{SECRET_PARAM}%3D{SECRET}&x=1") == f"cb?{SECRET_PARAM}%3D***&x=1"
    assert "literal" not in repr(flt)
    with pytest.raises(ValueError):
        SecretFilter("")


def test_secret_filter_on_a_logger(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.secretfilter")
    flt = SecretFilter()
    log.addFilter(flt)
    try:
        with caplog.at_level(logging.INFO, logger="test.secretfilter"):
            log.info("callback %s", f"https://x.test/a?{SECRET_PARAM}={SECRET}")
    finally:
        log.removeFilter(flt)
    assert SECRET not in caplog.text and f"{SECRET_PARAM}=***" in caplog.text


async def test_edges(client: AstriaClient) -> None:
    import astria_async.callbacks as callbacks

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = callbacks.nope
    with pytest.raises(ValueError, match="must not be empty"):
        CallbackReceiver(client, secret="")
    flat = parse_callback({"id": 3, "text": "x", "images": []})
    assert flat.id == 3 and not flat.images  # type: ignore[union-attr]


async def test_aiohttp_stops_reading_a_streamed_oversize_body(client: AstriaClient) -> None:
    async def chunks() -> Any:
        for _ in range(50):
            yield b"x" * 1000

    async with TestClient(TestServer(CallbackReceiver(client, max_bytes=5000).app())) as http:
        resp = await http.post("/astria/callback", params={SECRET_PARAM: SECRET},
                               data=chunks())
        assert resp.status == 413
