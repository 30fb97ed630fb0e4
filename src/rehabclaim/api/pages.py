"""List responses: ``items``, the ``limit`` and ``offset`` asked for, and ``next``, the path of the next
page (null on the last). A route asks its service for one item more than the page holds: that one, if it
comes, says there is a next page (no count query)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec
from starlette.requests import Request

from rehabclaim.api.deps import Page

Item = TypeVar("Item")


class ListPage(msgspec.Struct, Generic[Item]):
    items: list[Item]
    limit: int
    offset: int
    next: str | None


def paged(request: Request, page: Page, fetch: Callable[[int, int], list[Item]]) -> ListPage[Item]:
    """``fetch(limit, offset)`` called once, for the page and one more item."""
    found = fetch(page.limit + 1, page.offset)
    following = None
    if len(found) > page.limit:
        query = request.url.include_query_params(limit=page.limit, offset=page.offset + page.limit).query
        following = f"{request.url.path}?{query}"
    return ListPage(items=found[: page.limit], limit=page.limit, offset=page.offset, next=following)
