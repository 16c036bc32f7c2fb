"""The web console at ``/``: the built app's files, the SPA fallback, and what it never shadows."""

from __future__ import annotations

from pathlib import Path

import pytest

from flageval_gateway.web import default_web_dir

INDEX = "<!doctype html><html><body><div id='root'></div>FlagEval SPA</body></html>"
ASSET = "console.log('app');"


@pytest.fixture
def web_dir(tmp_path: Path) -> Path:
    """A fake Vite build, with a secret beside it that must never be served."""
    dist = tmp_path / "site" / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "assets" / "index-abc123.js").write_text(ASSET)
    (dist / "favicon.svg").write_text("<svg/>")
    (tmp_path / "site" / "secret.txt").write_text("do not serve")
    (dist / "assets" / "escape.js").symlink_to(tmp_path / "site" / "secret.txt")
    return dist


async def test_index_and_spa_fallback(gateway_factory, web_dir: Path) -> None:
    async with gateway_factory(web_dir=web_dir) as gw:
        for path in ("/", "/login", "/console/evaluations/123", "/leaderboards/nlp?x=1"):
            r = await gw.client.get(path)
            assert r.status_code == 200, path
            assert r.text == INDEX, path
            assert r.headers["content-type"].startswith("text/html")
            assert r.headers["cache-control"] == "no-cache"
        r = await gw.client.head("/profile")
        assert r.status_code == 200 and r.content == b""

        r = await gw.client.get("/favicon.svg")
        assert r.status_code == 200 and r.text == "<svg/>"
        assert r.headers["cache-control"] == "no-cache"
        # A file name the build lacks is a 404, not the app.
        for path in ("/favicon.ico", "/openapi.json", "/console/report.pdf"):
            assert (await gw.client.get(path)).status_code == 404, path


async def test_assets_are_cached_for_long(gateway_factory, web_dir: Path) -> None:
    async with gateway_factory(web_dir=web_dir) as gw:
        r = await gw.client.get("/assets/index-abc123.js")
        assert r.status_code == 200
        assert r.text == ASSET
        assert "javascript" in r.headers["content-type"]
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        # A missing asset is a 404, not the app's HTML under a .js name.
        r = await gw.client.get("/assets/index-gone.js")
        assert r.status_code == 404
        assert r.json() == {"detail": "Not found", "code": "not_found"}


@pytest.mark.parametrize(
    "path",
    [
        "/assets/../../secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/assets/escape.js",  # a symlink out of the build
        "/..%2fsecret.txt",
        "/assets/..\\..\\secret.txt",
    ],
)
async def test_path_traversal_is_refused(gateway_factory, web_dir: Path, path: str) -> None:
    async with gateway_factory(web_dir=web_dir) as gw:
        r = await gw.client.get(path)
        assert "do not serve" not in r.text
        assert r.status_code in (200, 404)
        if r.status_code == 200:  # a non-asset path: the app itself, never the file
            assert r.text == INDEX


async def test_api_and_probes_are_not_shadowed(gateway_factory, web_dir: Path) -> None:
    async with gateway_factory(web_dir=web_dir, metrics_token="scrape-me") as gw:
        r = await gw.client.get("/api/health")
        assert r.status_code == 200 and r.json()["status"] == "ok"
        # Routed to an internal service (an echo service here).
        r = await gw.client.get("/api/leaderboards/nlp")
        assert r.status_code == 200
        assert r.json()["service"] == "leaderboard" and r.json()["path"] == "/api/leaderboards/nlp"
        # Unknown API paths stay JSON 404s, with any method.
        for method, path in (("GET", "/api/nope"), ("GET", "/api"), ("POST", "/api/x/y")):
            r = await gw.client.request(method, path)
            assert r.status_code == 404, (method, path)
            assert r.json() == {"detail": "Not found", "code": "not_found"}
        # A known API path with the wrong method keeps its 405.
        r = await gw.client.delete("/api/health")
        assert r.status_code == 405
        assert r.json() == {"detail": "Method Not Allowed", "code": "method_not_allowed"}
        r = await gw.client.get("/healthz")
        assert r.json()["service"] == "gateway"
        scraper = {"Authorization": "Bearer scrape-me"}
        r = await gw.client.get("/readyz")
        assert r.json() == {"status": "ready"}
        r = await gw.client.get("/readyz", headers=scraper)
        assert r.json()["status"] == "ready" and r.json()["checks"]["database"] == "ok"
        r = await gw.client.get("/metrics", headers=scraper)
        assert r.status_code == 200 and "text/plain" in r.headers["content-type"]
        # Neither the app nor the metrics for anyone else.
        r = await gw.client.get("/metrics")
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"
        # Only GET and HEAD reach the app.
        r = await gw.client.post("/login")
        assert r.status_code in (404, 405)


async def test_without_a_build_the_page_says_how_to_make_one(
    gateway_factory, tmp_path: Path
) -> None:
    async with gateway_factory(web_dir=tmp_path / "nowhere") as gw:
        r = await gw.client.get("/")
        assert r.status_code == 200
        assert "make web" in r.text
        assert r.headers["content-type"].startswith("text/html")
        r = await gw.client.get("/console")
        assert "make web" in r.text
        r = await gw.client.get("/assets/index.js")
        assert r.status_code == 404
        r = await gw.client.get("/api/health")
        assert r.status_code == 200


async def test_a_build_made_after_start_is_served(gateway_factory, tmp_path: Path) -> None:
    dist = tmp_path / "later"
    async with gateway_factory(web_dir=dist) as gw:
        assert "make web" in (await gw.client.get("/")).text
        dist.mkdir()
        (dist / "index.html").write_text(INDEX)
        assert (await gw.client.get("/")).text == INDEX


def test_default_web_dir_is_the_repositorys(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    package = repo / "services" / "gateway" / "src" / "flageval_gateway" / "web.py"
    package.parent.mkdir(parents=True)
    package.write_text("")
    (repo / "web").mkdir()
    (repo / "web" / "package.json").write_text("{}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Found above the package (an editable install), wherever the process runs.
    assert default_web_dir(package, cwd=elsewhere) == repo / "web" / "dist"
    # An installed package outside the repository: found above the working directory.
    site = tmp_path / "site-packages" / "flageval_gateway" / "web.py"
    site.parent.mkdir(parents=True)
    site.write_text("")
    assert default_web_dir(site, cwd=repo / "services") == repo / "web" / "dist"
    # Neither: ./web/dist, which does not exist (the no-build page then).
    assert default_web_dir(site, cwd=elsewhere) == elsewhere / "web" / "dist"
    # This checkout's own.
    assert default_web_dir() == Path(__file__).resolve().parents[3] / "web" / "dist"
