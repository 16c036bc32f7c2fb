"""The web console: the built single-page app (``web/dist``) served at ``/``.

``/assets/…`` are Vite's content-hashed files, cached for a year. Any other ``GET``/``HEAD``
that is not the API (``/api``, ``/api/…``) or a probe (``/healthz``, ``/readyz``, ``/metrics``)
gets a file of the build's top level when one has that name (``favicon.ico``), a 404 for any
other file name (a last segment with a dot: ``/openapi.json``), else ``index.html`` (never
cached, so a new build is picked up at once) and the app's router takes over. Without a build, the answer is a short page saying how to make one (``make web``).

The route goes after every other one, so it never shadows an API or proxied path.
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound, get_route_path
from starlette.types import Receive, Scope, Send

from flageval_platform.errors import error_body

ASSETS_PREFIX = "/assets/"
ASSET_CACHE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
# Paths that are never the app's: the API (its own 404s are JSON) and the probes.
RESERVED_PREFIXES = ("/api/",)
RESERVED_PATHS = frozenset({"/api", "/healthz", "/readyz", "/metrics"})

_NO_BUILD_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>FlagEval</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>FlagEval</h1>
<p>The web console has not been built: no <code>index.html</code> in
<code>{web_dir}</code>.</p>
<p>Build it with <code>make web</code> (needs Node.js and npm; <code>make up</code> does it
too), or point <code>FLAGEVAL_WEB_DIR</code> at a build. The REST API is at
<a href="/api/docs">/api/docs</a>.</p>
</body></html>
"""


def _not_found() -> Response:
    return JSONResponse(error_body("Not found", 404), status_code=404)


def default_web_dir(start: Path | None = None, cwd: Path | None = None) -> Path:
    """The repository's ``web/dist``.

    Looked for above this package's source (an editable install lives in the repository) and
    then above the working directory: the first folder with a ``web/package.json`` is the
    repository. When none is found, ``./web/dist`` (which then simply does not exist).
    """
    here = (start or Path(__file__)).resolve()
    cwd = (cwd or Path.cwd()).resolve()
    for base in (*here.parents, cwd, *cwd.parents):
        if (base / "web" / "package.json").is_file():
            return base / "web" / "dist"
    return cwd / "web" / "dist"


def is_reserved(path: str) -> bool:
    return path in RESERVED_PATHS or path.startswith(RESERVED_PREFIXES)


def _safe_file(root: Path, relative: str) -> Path | None:
    """``root/relative`` when it is a regular file inside ``root`` (symlinks resolved)."""
    parts = relative.split("/")
    if any(p in (".", "..") or "\\" in p or "\x00" in p for p in parts):
        return None
    try:
        candidate = root.joinpath(*parts).resolve()
        if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
            return None
    except (OSError, ValueError):
        return None
    return candidate


class WebAppRoute(BaseRoute):
    """The catch-all that serves the single-page app (``GET``/``HEAD`` only)."""

    name = "web"
    # Names the route in metrics and logs (bounded cardinality).
    path = path_format = "/{web_path}"

    def __init__(self, web_dir: Path) -> None:
        self.web_dir = web_dir

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and not is_reserved(get_route_path(scope))
        ):
            return Match.FULL, {"route": self}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: object) -> None:  # type: ignore[override]
        raise NoMatchFound(name, path_params)

    def response(self, path: str) -> Response:
        root = self.web_dir
        index = root / "index.html"
        if path.startswith(ASSETS_PREFIX):
            asset = _safe_file(root, path.lstrip("/"))
            if asset is None:
                return _not_found()
            return FileResponse(asset, headers={"Cache-Control": ASSET_CACHE})
        name = path.strip("/")
        if name and "/" not in name:
            top_level = _safe_file(root, name)
            if top_level is not None:
                return FileResponse(top_level, headers={"Cache-Control": NO_CACHE})
        if "." in path.rsplit("/", 1)[-1]:
            # A file name (favicon.ico, openapi.json) that the build lacks: not an app route.
            return _not_found()
        if not index.is_file():
            body = _NO_BUILD_PAGE.format(web_dir=html.escape(str(root)))
            return HTMLResponse(body, headers={"Cache-Control": NO_CACHE})
        return FileResponse(index, media_type="text/html", headers={"Cache-Control": NO_CACHE})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.response(get_route_path(scope))(scope, receive, send)


def web_routes(web_dir: Path | None) -> list[BaseRoute]:
    """The routes to append last: the app from ``web_dir`` (default: the repository's build)."""
    return [WebAppRoute(web_dir if web_dir is not None else default_web_dir())]
