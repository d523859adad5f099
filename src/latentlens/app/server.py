"""The explorer's HTTP layer: Starlette routes over an :class:`~latentlens.app.session.ExplorerSession`.

Routes (every parameter validated and bounded; a bad one is a 400 with a JSON ``{"error": ...}``):

- ``GET /`` the page; ``GET /static/{name}`` its CSS and JavaScript (package data, a fixed list of files);
- ``GET /api/meta`` the model, its direction sets and the limits;
- ``GET /api/render.png?seed=&index=&source=prior|data&shifts=set:k:alpha,...`` one image;
- ``GET /api/traversal.png`` and ``/api/traversal.gif`` ``?seed=&index=&shifts=&set=&k=&steps=&range=`` a strip /
  an animation along one direction;
- ``GET /api/attention.png?seed=&index=&set=&k=`` (VAEs) the attention overlay of a latent or direction;
- ``GET /api/curve.png?position=`` the image of a point along the run's space-filling curve (``latentlens sfvq``);
- ``POST /api/rename`` ``{"set", "k", "name"}`` names a direction, saved into its artifact's JSON.

No file-system path reaches the client or comes from it: direction sets are named by their artifact's stem,
found in the run folder given on the command line.
"""

from __future__ import annotations

import logging
from importlib import resources

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import LatentLensError
from .session import BadRequest, ExplorerSession

log = logging.getLogger(__name__)

STATIC = {"app.js": "text/javascript", "style.css": "text/css", "index.html": "text/html"}
NO_STORE = {"Cache-Control": "no-store"}


def _static(name: str) -> bytes:
    return resources.files("latentlens.app").joinpath("static", name).read_bytes()


def create_app(session: ExplorerSession, allowed_hosts: list[str] | None = None) -> Starlette:
    """The explorer app for one session (one run folder). Requests must name a loopback host (or one of
    ``allowed_hosts``): a page on another site cannot reach the explorer through DNS rebinding."""

    def bad(exc: Exception, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=status)

    def image(make, media_type: str = "image/png") -> Response:
        try:
            return Response(make(), media_type=media_type)
        except BadRequest as exc:
            return bad(exc)
        except LatentLensError as exc:  # the model could not render this (a one-line reason, not a traceback)
            return bad(exc, 500)

    png = image

    async def index(request: Request) -> Response:
        return Response(_static("index.html"), media_type="text/html", headers=NO_STORE)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC or name == "index.html":
            return bad("no such file", 404)
        return Response(_static(name), media_type=STATIC[name])

    def meta(request: Request) -> Response:
        return JSONResponse(session.meta())

    def render(request: Request) -> Response:
        q = request.query_params
        return png(lambda: session.render(q.get("seed", 0), q.get("index", 0), q.get("shifts", ""), q.get("source", "auto")))

    def traversal(request: Request) -> Response:
        q = request.query_params
        args = (q.get("seed", 0), q.get("index", 0), q.get("shifts", ""), q.get("set", "latent"), q.get("k", 0),
                q.get("steps", 9), q.get("range", 3.0), q.get("source", "auto"))  # fmt: skip
        if request.url.path.endswith(".gif"):
            return image(lambda: session.animation(*args), "image/gif")
        return png(lambda: session.traversal(*args))

    def attention(request: Request) -> Response:
        q = request.query_params
        return png(lambda: session.attention(q.get("seed", 0), q.get("index", 0), q.get("set", "latent"), q.get("k", 0),
                                             q.get("source", "auto")))  # fmt: skip

    def curve(request: Request) -> Response:
        return png(lambda: session.curve_point(request.query_params.get("position", 0)))

    async def rename(request: Request) -> Response:
        # a write: only from the explorer's own page (JSON, same origin), never from another site's form or fetch
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return bad("the body must be sent as application/json", 415)
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
            return bad("cross-origin writes are refused", 403)
        try:
            body = await request.json()
        except ValueError:
            return bad("the body must be JSON: {\"set\": ..., \"k\": ..., \"name\": ...}")
        if not isinstance(body, dict):
            return bad("the body must be a JSON object")
        try:
            return JSONResponse(session.rename(body.get("set"), body.get("k"), body.get("name")))
        except BadRequest as exc:
            return bad(exc)
        except LatentLensError as exc:  # the artifact could not be written
            return bad(exc, 500)

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/meta", meta),
        Route("/api/render.png", render),
        Route("/api/traversal.png", traversal),
        Route("/api/traversal.gif", traversal),
        Route("/api/attention.png", attention),
        Route("/api/curve.png", curve),
        Route("/api/rename", rename, methods=["POST"]),
    ]
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    hosts = ["127.0.0.1", "localhost", "[::1]", "::1", *(allowed_hosts or [])]
    return Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)])


def serve(run_dir, host: str = "127.0.0.1", port: int = 0, device: str = "cpu", ready=None) -> None:
    """Load the run, then serve the explorer until interrupted. ``port=0`` picks a free port; ``ready(url)``
    is called once the server listens (the CLI prints the URL)."""
    import socket

    import uvicorn

    session = ExplorerSession(run_dir, device)
    app = create_app(session, None if host in ("127.0.0.1", "localhost", "::1") else ["*"] if host == "0.0.0.0" else [host])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections queue from now on, so the printed URL works at once
    except OSError as exc:
        sock.close()
        raise LatentLensError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    url = f"http://{host}:{sock.getsockname()[1]}/"
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if ready is not None:
        ready(url)
    server.run(sockets=[sock])
