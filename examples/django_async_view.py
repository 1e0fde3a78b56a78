"""Django async views under WSGI: one client per event loop, callbacks stored for the order.

Under WSGI (runserver, gunicorn sync workers) Django runs each async view in a new event loop
(asgiref's `async_to_sync`), so a module-level client would be bound to the first request's
loop and fail in the next one. `PerLoopClient.get()` gives each loop its own client and closes
it with the loop. A wait cannot span requests here, so orders are created with a callback and
the callback view stores the finished prompt (a dict stands in for your database); GET
/orders/<id> answers from it, or asks Astria once.

Needs `pip install astria-async django`. Run it (a single-file Django project) against the
offline fake:

    python -m astria_async.testing --port 8765 &          # prints its API key
    ASTRIA_BASE_URL=http://127.0.0.1:8765 ASTRIA_API_KEY=<key> python examples/django_async_view.py
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from typing import Any

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from astria_async import Prompt, errors
from astria_async.callbacks import CallbackReceiver, SecretFilter
from astria_async.integrations.perloop import PerLoopClient

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8000"))
PUBLIC_URL = os.environ.get("PUBLIC_URL", f"http://{HOST}:{PORT}").rstrip("/")
CALLBACK_URL = f"{PUBLIC_URL}/astria/callback"

settings.configure(
    DEBUG=False, SECRET_KEY=secrets.token_urlsafe(32), ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__, MIDDLEWARE=[], INSTALLED_APPS=[],
)

astria = PerLoopClient(
    callback_secret=os.environ.get("ASTRIA_CALLBACK_SECRET") or secrets.token_urlsafe(32))
RESULTS: dict[int, Prompt] = {}  # your database, in a real project
RESULTS_LOCK = threading.Lock()  # WSGI serves requests from several threads


def _stored(prompt: Any, context: Any) -> None:
    for item in prompt if isinstance(prompt, list) else [prompt]:
        if isinstance(item, Prompt) and item.is_finished:
            with RESULTS_LOCK:
                RESULTS[item.id] = item


def _answer(prompt: Prompt) -> dict[str, Any]:
    return {"prompt_id": prompt.id, "done": prompt.is_finished, "images": list(prompt.images),
            "error": prompt.user_error}


@csrf_exempt
@require_POST
async def order(request: HttpRequest) -> HttpResponse:
    body = json.loads(request.body)
    client = astria.get()
    try:
        prompt = await client.prompts.create(
            int(body["tune_id"]), text=str(body["text"]), num_images=int(body.get("num_images", 4)),
            callback=client.callback_url(CALLBACK_URL, tune=body["tune_id"]))
    except errors.InvalidParamsError as exc:
        return JsonResponse({"error": str(exc)}, status=422)
    return JsonResponse(_answer(prompt), status=202)


@require_GET
async def order_status(request: HttpRequest, prompt_id: int) -> HttpResponse:
    with RESULTS_LOCK:
        prompt = RESULTS.get(prompt_id)
    if prompt is None:  # no callback yet (or it was lost: Astria never retries one)
        prompt = await astria.get().prompts.get(prompt_id)
    return JsonResponse(_answer(prompt))


@csrf_exempt
async def callback(request: HttpRequest, secret: str = "") -> HttpResponse:
    # Django has read the body already; handle() still checks the secret before parsing it.
    receiver = CallbackReceiver(astria.get(), on_object=_stored)
    answer = await receiver.handle(request.GET.dict(), request.body, path=request.path)
    return HttpResponse(answer.body, status=answer.status, headers=dict(answer.headers))


async def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True})


urlpatterns = [
    path("orders", order),
    path("orders/<int:prompt_id>", order_status),
    path("astria/callback", callback),
    path("astria/callback/<str:secret>", callback),
    path("healthz", healthz),
]


if __name__ == "__main__":
    from django.core.servers.basehttp import run
    from django.core.wsgi import get_wsgi_application

    django.setup()
    # Django's development server logs each request line, query string included.
    logging.getLogger("django.server").addFilter(SecretFilter())
    run(HOST, PORT, get_wsgi_application(), threading=True)
