"""Client lifecycles that fit each framework (optional; the core never imports this package).

- `astria_async.integrations.asgi`: `AstriaLifespan` for FastAPI/Starlette (and any ASGI app
  with lifespan state): the client opens and closes with the app, the callback receiver
  mounts before the client exists.
- `astria_async.integrations.fastapi`: `AstriaDep`, the client as a FastAPI dependency
  (`pip install 'astria-async[fastapi]'`).
- `astria_async.integrations.aiohttp`: `CLIENT_KEY` (an `AppKey`) and `setup(app)`, a
  `cleanup_ctx` that opens and closes the client with the aiohttp app.
- `astria_async.integrations.perloop`: `PerLoopClient`, one client per running event loop,
  closed with its loop (Django async views, `asgiref.async_to_sync`, scripts calling
  `asyncio.run()` more than once).
"""
