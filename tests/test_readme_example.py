"""The README's plugin example, verbatim in substance: users' suites use these fixtures."""

from __future__ import annotations

from astria_async import AstriaClient
from astria_async.testing import FakeAstria


async def test_order_flow(astria_client: AstriaClient, astria_fake: FakeAstria) -> None:
    tune = await astria_client.tunes.create(title="t", name="man", branch="fast",
                                            image_urls=["https://example.com/a.jpg"])
    prompt = await astria_client.prompts.create(tune.id, text="ohwx man", num_images=2)
    prompt = await prompt.wait_images(timeout=10)
    assert len(prompt.images) == 2
    assert astria_fake.count("POST", "/tunes/*/prompts") == 1
