"""Pages of a long list in the UI: ``?page=N`` (1-based) over the API's ``limit``/``offset``, and the
Newer/Older links that keep the list's filters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request

__all__ = ["PAGE_SIZE", "Pager", "page_number"]

PAGE_SIZE = 100
"""Rows per page of the plans and runs lists."""


def page_number(request: Request) -> int:
    """The ``page`` query parameter; a missing or malformed one is the first page (a link, not an API)."""
    raw = request.query_params.get("page", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 10**6 else 1


@dataclass(frozen=True, slots=True)
class Pager:
    """Where a page sits in the whole list, and the links to its neighbours."""

    path: str
    page: int
    shown: int
    total: int
    filters: Mapping[str, str]
    size: int = PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def first(self) -> int:
        return self.offset + 1 if self.shown else 0

    @property
    def last(self) -> int:
        return self.offset + self.shown

    def _href(self, page: int) -> str:
        query = {**self.filters, **({"page": str(page)} if page > 1 else {})}
        return self.path + ("?" + urlencode(query) if query else "")

    @property
    def last_page(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def newer_href(self) -> str | None:
        """The page before; from a page past the end (an old link), the last page."""
        return self._href(min(self.page - 1, self.last_page)) if self.page > 1 else None

    @property
    def older_href(self) -> str | None:
        return self._href(self.page + 1) if self.last < self.total else None
