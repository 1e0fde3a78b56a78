"""The client as a FastAPI dependency (`pip install 'astria-async[fastapi]'`).

    from astria_async.integrations.asgi import AstriaLifespan
    from astria_async.integrations.fastapi import AstriaDep

    astria = AstriaLifespan(callback_secret=os.environ["ASTRIA_CALLBACK_SECRET"])
    app = FastAPI(lifespan=astria)
    app.mount("/astria/callback", astria.callbacks())

    @app.post("/orders")
    async def order(client: AstriaDep) -> dict[str, int]: ...
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .._client import AstriaClient
from .asgi import client_of


def get_client(request: Request) -> AstriaClient:
    """The client `AstriaLifespan` opened for this app (a FastAPI dependency)."""
    return client_of(request)


AstriaDep = Annotated[AstriaClient, Depends(get_client)]
