"""Transport behaviour through the public client, on aioresponses: headers, errors, retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from astria_async import AstriaClient, RetryPolicy, errors

API = "https://api.astria.ai"
KEY = "sd_SECRETKEY123"


@pytest.fixture
def sleeps() -> list[float]:
    """Retry sleeps, recorded instead of slept by the `client` fixture (and `_recorder`)."""
    return []


@pytest.fixture
async def client(sleeps: list[float]) -> AsyncIterator[AstriaClient]:
    async with AstriaClient(KEY, base_url=API, retry=RetryPolicy(max_retries=3),
                            sleep=_recorder(sleeps)) as c:
        yield c


def calls(m: aioresponses, method: str, path: str) -> list[Any]:
    return list(m.requests.get((method, URL(API + path)), []))


async def test_every_request_carries_auth_agent_and_workspace(mocked: aioresponses) -> None:
    mocked.get(f"{API}/tunes/1", payload={"id": 1})
    mocked.post(f"{API}/tunes/1/prompts", payload={"id": 2}, status=201)
    mocked.delete(f"{API}/prompts/2", payload={"message": "Prompt successfully deleted"})
    async with AstriaClient(KEY, base_url=API, workspace_id=77) as c:
        await c.tunes.get(1)
        await c.prompts.create(1, text="ohwx man")
        await c.prompts.delete(2)
    sent = [call for group in mocked.requests.values() for call in group]
    assert len(sent) == 3
    for call in sent:
        headers = call.kwargs["headers"]
        assert headers["Authorization"] == f"Bearer {KEY}"
        assert headers["X-Workspace-Id"] == "77"
        assert headers["User-Agent"].startswith("astria-async/")


async def test_no_workspace_header_without_workspace(mocked: aioresponses,
                                                     client: AstriaClient) -> None:
    mocked.get(f"{API}/tunes/1", payload={"id": 1})
    await client.tunes.get(1)
    assert "X-Workspace-Id" not in calls(mocked, "GET", "/tunes/1")[0].kwargs["headers"]


@pytest.mark.parametrize(("status", "cls"), [
    (400, errors.BadRequestError),
    (401, errors.AuthenticationError),
    (403, errors.PermissionDeniedError),
    (404, errors.NotFoundError),
    (409, errors.ConflictError),
    (422, errors.ValidationError),
    (418, errors.APIStatusError),
])
async def test_status_maps_to_error_and_is_not_retried(
        mocked: aioresponses, client: AstriaClient, sleeps: list[float],
        status: int, cls: type[errors.APIStatusError]) -> None:
    mocked.get(f"{API}/tunes/5", status=status, payload={"error": "nope"}, repeat=True)
    with pytest.raises(cls) as info:
        await client.tunes.get(5)
    assert type(info.value) is cls
    assert info.value.status == status
    assert info.value.message == "nope"
    assert info.value.body == {"error": "nope"}
    assert len(calls(mocked, "GET", "/tunes/5")) == 1
    assert sleeps == []


@pytest.mark.parametrize(("status", "cls"), [
    (500, errors.ServerError), (502, errors.ServerError), (503, errors.ServerError),
    (504, errors.GatewayTimeoutError), (429, errors.RateLimitError),
])
async def test_reads_retry_then_raise_the_mapped_error(
        mocked: aioresponses, client: AstriaClient, sleeps: list[float],
        status: int, cls: type[errors.APIStatusError]) -> None:
    mocked.get(f"{API}/tunes/5", status=status, body="", repeat=True)
    with pytest.raises(cls):
        await client.tunes.get(5)
    assert len(calls(mocked, "GET", "/tunes/5")) == 4  # 1 + max_retries
    assert len(sleeps) == 3


async def test_get_500_500_200_succeeds(mocked: aioresponses, client: AstriaClient,
                                        sleeps: list[float]) -> None:
    mocked.get(f"{API}/prompts/9", status=500)
    mocked.get(f"{API}/prompts/9", status=500)
    mocked.get(f"{API}/prompts/9", payload={"id": 9, "images": ["https://mp.astria.ai/a"]})
    prompt = await client.prompts.get(9)
    assert prompt.images == ("https://mp.astria.ai/a",)
    assert len(calls(mocked, "GET", "/prompts/9")) == 3
    assert len(sleeps) == 2
    assert all(0 <= s <= RetryPolicy().backoff_max for s in sleeps)


async def test_post_504_raises_after_exactly_one_request(
        mocked: aioresponses, client: AstriaClient, sleeps: list[float]) -> None:
    mocked.post(f"{API}/tunes/1/prompts", status=504, body="Gateway Timeout", repeat=True)
    with pytest.raises(errors.GatewayTimeoutError) as info:
        await client.prompts.create(1, text="ohwx man")
    assert len(calls(mocked, "POST", "/tunes/1/prompts")) == 1
    assert "may have been processed" in str(info.value)
    assert "idempotent=True" in str(info.value)
    assert sleeps == []


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_post_5xx_is_not_resent(mocked: aioresponses, client: AstriaClient,
                                      sleeps: list[float], status: int) -> None:
    mocked.post(f"{API}/tunes", status=status, payload={"error": "boom"}, repeat=True)
    with pytest.raises(errors.ServerError):
        await client.tunes.create(title="t", name="man", image_urls=["https://x.test/a.jpg"])
    assert len(calls(mocked, "POST", "/tunes")) == 1


async def test_post_timeout_and_reset_are_not_resent(mocked: aioresponses,
                                                     client: AstriaClient,
                                                     sleeps: list[float]) -> None:
    mocked.post(f"{API}/tunes/1/prompts", exception=TimeoutError())
    with pytest.raises(errors.APITimeoutError):
        await client.prompts.create(1, text="a")
    mocked.post(f"{API}/tunes/2/prompts", exception=aiohttp.ServerDisconnectedError())
    with pytest.raises(errors.APIConnectionError):
        await client.prompts.create(2, text="a")
    assert len(calls(mocked, "POST", "/tunes/1/prompts")) == 1
    assert len(calls(mocked, "POST", "/tunes/2/prompts")) == 1


async def test_post_connect_error_is_resent(mocked: aioresponses, client: AstriaClient,
                                            sleeps: list[float]) -> None:
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("api.astria.ai", 443, True, True, None, None,
                                            None),
        OSError(111, "Connection refused"))
    mocked.post(f"{API}/tunes/1/prompts", exception=refused)
    mocked.post(f"{API}/tunes/1/prompts", payload={"id": 3}, status=201)
    prompt = await client.prompts.create(1, text="a")
    assert prompt.id == 3
    assert len(calls(mocked, "POST", "/tunes/1/prompts")) == 2


async def test_post_429_is_resent_after_retry_after(mocked: aioresponses,
                                                    client: AstriaClient,
                                                    sleeps: list[float]) -> None:
    mocked.post(f"{API}/tunes/1/prompts", status=429, headers={"Retry-After": "7"}, body="")
    mocked.post(f"{API}/tunes/1/prompts", payload={"id": 3}, status=201)
    assert (await client.prompts.create(1, text="a")).id == 3
    assert sleeps == [7.0]


async def test_retry_after_beyond_cap_raises_with_hint(mocked: aioresponses,
                                                       client: AstriaClient,
                                                       sleeps: list[float]) -> None:
    mocked.get(f"{API}/tunes/1", status=429, headers={"Retry-After": "3600"},
               payload={"error": "slow down"})
    with pytest.raises(errors.RateLimitError) as info:
        await client.tunes.get(1)
    assert info.value.retry_after == 3600.0
    assert sleeps == []


async def test_idempotent_client_resends_creates(mocked: aioresponses,
                                                 sleeps: list[float]) -> None:
    mocked.post(f"{API}/tunes", status=504, body="")
    mocked.post(f"{API}/tunes", status=500, body="")
    mocked.post(f"{API}/tunes", status=201, payload={"id": 11, "title": "uuid-1"})
    async with AstriaClient(KEY, base_url=API, idempotent=True, sleep=_recorder(sleeps)) as c:
        tune = await c.tunes.create(title="uuid-1", name="man",
                                    image_urls=["https://x.test/a.jpg"])
    assert tune.id == 11
    assert len(calls(mocked, "POST", "/tunes")) == 3
    assert sleeps[0] == 60.0  # Astria: wait 60 s after a 504 before re-sending


def _recorder(into: list[float]) -> Any:
    async def sleep(seconds: float) -> None:
        into.append(seconds)
    return sleep


async def test_deadline_stops_retries_early(mocked: aioresponses, sleeps: list[float]) -> None:
    mocked.get(f"{API}/tunes/1", status=503, body="", repeat=True)
    policy = RetryPolicy(server_error_base=100.0, backoff_max=100.0)
    async with AstriaClient(KEY, base_url=API, retry=policy, sleep=_recorder(sleeps)) as c:
        import time
        with pytest.raises(errors.ServerError):
            await c._transport.request("GET", "/tunes/1", deadline=time.monotonic() + 0.001)
    assert sleeps == []
    assert len(calls(mocked, "GET", "/tunes/1")) == 1


@pytest.mark.parametrize(("body", "message"), [
    ({"error": "Prompt is not using a fine-tuned model"},
     "Prompt is not using a fine-tuned model"),
    ({"message": "Invalid token"}, "Invalid token"),
    ({"cfg_scale": ["must be less than 5"]}, "cfg_scale must be less than 5"),
    ({"cfg_scale": ["must be less than 5"], "negative_prompt": ["is not supported on Flux"]},
     "cfg_scale must be less than 5; negative_prompt is not supported on Flux"),
    ({"base": ["could not download image"]}, "could not download image"),
    ({"errors": ["title can't be blank"]}, "title can't be blank"),
])
async def test_server_message_is_surfaced(mocked: aioresponses, client: AstriaClient,
                                          body: dict[str, Any], message: str) -> None:
    mocked.post(f"{API}/tunes/1/prompts", status=422, payload=body)
    with pytest.raises(errors.ValidationError) as info:
        await client.prompts.create(1, text="a")
    assert info.value.message == message
    assert message in str(info.value)


async def test_non_json_error_body_is_kept_as_text(mocked: aioresponses,
                                                   client: AstriaClient) -> None:
    mocked.get(f"{API}/tunes/1", status=404, body="<html>Not Found</html>",
               content_type="text/html")
    with pytest.raises(errors.NotFoundError) as info:
        await client.tunes.get(1)
    assert info.value.message == "<html>Not Found</html>"


async def test_non_json_success_body_is_a_typed_error(mocked: aioresponses,
                                                      client: AstriaClient) -> None:
    mocked.get(f"{API}/tunes/1", status=200, body="<html>maintenance</html>")
    with pytest.raises(errors.APIResponseValidationError, match="not JSON"):
        await client.tunes.get(1)


@pytest.mark.parametrize(("status", "kwargs"), [
    (200, {"body": ""}),
    (200, {"body": "OK", "content_type": "text/plain"}),
    (200, {"payload": {"message": "Prompt successfully deleted"}}),
    (204, {"body": ""}),
])
async def test_delete_answers_are_all_success(mocked: aioresponses, client: AstriaClient,
                                              status: int, kwargs: dict[str, Any]) -> None:
    mocked.delete(f"{API}/prompts/4", status=status, **kwargs)
    mocked.delete(f"{API}/tunes/4", status=status, **kwargs)
    mocked.delete(f"{API}/tunes/1/prompts/4", status=status, **kwargs)
    await client.prompts.delete(4)
    await client.tunes.delete(4)
    await client.prompts.delete(4, tune_id=1)
    assert len(mocked.requests) == 3


async def test_create_answered_with_an_array_yields_first(mocked: aioresponses,
                                                          client: AstriaClient) -> None:
    mocked.post(f"{API}/tunes/1/prompts", status=201,
                payload=[{"id": 5, "text": "a"}, {"id": 6, "text": "b"}])
    assert (await client.prompts.create(1, text="a")).id == 5


async def test_create_answered_with_garbage_is_a_typed_error(mocked: aioresponses,
                                                             client: AstriaClient) -> None:
    mocked.post(f"{API}/tunes/1/prompts", status=201, payload="created")
    with pytest.raises(errors.APIResponseValidationError):
        await client.prompts.create(1, text="a")


async def test_secret_never_in_logs_repr_or_errors(mocked: aioresponses,
                                                   caplog: pytest.LogCaptureFixture,
                                                   sleeps: list[float]) -> None:
    caplog.set_level(logging.DEBUG)
    mocked.get(f"{API}/tunes/1", status=500, payload={"error": "x"}, repeat=True)
    mocked.get(f"{API}/tunes/2", status=401, payload={"error": "bad key"})
    mocked.post(f"{API}/tunes/1/prompts", status=504, body="")
    texts: list[str] = []
    async with AstriaClient(KEY, base_url=API, sleep=_recorder(sleeps)) as c:
        texts.append(repr(c))
        for call in (c.tunes.get(1), c.tunes.get(2), c.prompts.create(1, text="a")):
            with pytest.raises(errors.AstriaError) as info:
                await call
            texts += [str(info.value), repr(info.value), repr(info.value.__dict__)]
    assert caplog.records, "requests are logged"
    texts += [r.getMessage() for r in caplog.records]
    assert all(KEY not in t for t in texts)
    assert any("GET /tunes/1 -> 500" in r.getMessage() for r in caplog.records)


async def test_use_after_close_raises_clearly(mocked: aioresponses) -> None:
    c = AstriaClient(KEY, base_url=API)
    await c.aclose()
    with pytest.raises(errors.ClientClosedError, match="closed"):
        await c.tunes.get(1)


def test_a_client_used_in_a_second_event_loop_says_so(mocked: aioresponses) -> None:
    mocked.get(f"{API}/tunes/1", payload={"id": 1}, repeat=True)
    c = AstriaClient(KEY, base_url=API)
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        assert first.run_until_complete(c.tunes.get(1)).id == 1
        with pytest.raises(errors.ClientClosedError, match="another event loop"):
            second.run_until_complete(c.tunes.get(1))
        assert first.run_until_complete(c.tunes.get(1)).id == 1
    finally:
        first.run_until_complete(c.aclose())
        first.close()
        second.close()


async def test_a_client_used_from_another_threads_loop_says_so(mocked: aioresponses) -> None:
    # Its own loop keeps running here while another thread runs a loop of its own.
    mocked.get(f"{API}/tunes/1", payload={"id": 1}, repeat=True)
    async with AstriaClient(KEY, base_url=API) as c:
        assert (await c.tunes.get(1)).id == 1
        with pytest.raises(errors.ClientClosedError, match="another event loop"):
            await asyncio.to_thread(asyncio.run, c.tunes.get(1))
        assert (await c.tunes.get(1)).id == 1


async def test_borrowed_session_is_never_closed(mocked: aioresponses) -> None:
    mocked.get(f"{API}/tunes/1", payload={"id": 1})
    async with aiohttp.ClientSession() as session:
        async with AstriaClient(KEY, base_url=API, session=session) as c:
            assert (await c.tunes.get(1)).id == 1
        assert not session.closed


async def test_owned_session_is_created_lazily_and_closed(mocked: aioresponses) -> None:
    mocked.get(f"{API}/tunes/1", payload={"id": 1})
    c = AstriaClient(KEY, base_url=API)
    assert c._transport._session is None  # nothing created outside the loop's first use
    async with c:
        await c.tunes.get(1)
        session = c._transport._session
        assert session is not None
    assert session.closed and c.closed


async def test_proxy_variables_are_resolved_once(mocked: aioresponses,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    mocked.get(f"{API}/tunes/1", payload={"id": 1}, repeat=True)
    async with AstriaClient(KEY, base_url=API) as c:
        await c.tunes.get(1)
        monkeypatch.setenv("HTTPS_PROXY", "http://other:1")
        await c.tunes.get(1)
    proxies = [call.kwargs["proxy"] for call in calls(mocked, "GET", "/tunes/1")]
    assert proxies == ["http://proxy.internal:3128"] * 2


async def test_no_proxy_is_honoured(mocked: aioresponses,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "api.astria.ai")
    mocked.get(f"{API}/tunes/1", payload={"id": 1})
    async with AstriaClient(KEY, base_url=API) as c:
        await c.tunes.get(1)
    assert calls(mocked, "GET", "/tunes/1")[0].kwargs["proxy"] is None


async def test_request_raw_escape_hatch(mocked: aioresponses, client: AstriaClient) -> None:
    mocked.get(f"{API}/users", payload={"id": 1, "usd_balance_mc": 5000})
    mocked.patch(f"{API}/prompts/3", payload={"id": 3, "pack_id": 8})
    reply = await client.request_raw("get", "users")
    assert reply.status == 200 and reply.data["usd_balance_mc"] == 5000
    await client.request_raw("PATCH", "/prompts/3", form={"pack_id": 8}, root="prompt")
    assert calls(mocked, "PATCH", "/prompts/3")[0].kwargs["json"] == {"prompt": {"pack_id": 8}}
