"""The internal web UI: server-rendered pages (Jinja2) plus one small vanilla-JS file, all served locally.

``router`` serves the pages; ``static_files()`` is the ``/static`` mount (CSS, JS, favicon). The pages are
clients of the public ``/v1`` API (called in-process), so the UI shows exactly what API users see.
"""

from __future__ import annotations

from api.ui.routes import STATIC_DIR, router, static_files

__all__ = ["STATIC_DIR", "router", "static_files"]
