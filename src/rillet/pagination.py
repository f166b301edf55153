"""The page types of list endpoints, where the official package has them
(`from openai.pagination import SyncCursorPage` becomes `from rillet.pagination import ...`)."""

from rillet.resources._pages import AsyncCursorPage, AsyncPaginator, SyncCursorPage

__all__ = ["AsyncCursorPage", "AsyncPaginator", "SyncCursorPage"]
