"""The team dashboard: a static single-page app served by the API itself.

The page is plain ES modules under `api/static/` (no build step, no CDN), so the dashboard works on a
closed network and ships inside the wheel. Every client-side route (`/dashboard/searches/<id>`,
`/dashboard/compare?ids=...`, `/dashboard/submit`) answers with the same `index.html`; the app's
router reads the path. The page talks to the REST API with the user's API key, so serving it needs
no authentication.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX_HTML = STATIC_DIR / "index.html"

# The shell must be re-fetched after an upgrade; the hashed-free assets are revalidated cheaply.
_NO_CACHE = {"Cache-Control": "no-cache"}


def _index() -> FileResponse:
    return FileResponse(INDEX_HTML, media_type="text/html; charset=utf-8", headers=_NO_CACHE)


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at `/` and `/dashboard` (plus deep links) and its assets under `/static`."""
    if not INDEX_HTML.is_file():
        raise RuntimeError(
            f"dashboard assets missing: {INDEX_HTML} not found (is the package installed whole?)"
        )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    @app.get("/dashboard", include_in_schema=False)
    def dashboard_home() -> FileResponse:
        return _index()

    @app.get("/dashboard/{route:path}", include_in_schema=False)
    def dashboard_route(route: str) -> FileResponse:
        return _index()
