"""Database work from the media process's event loop."""

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")


def on_db_thread(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Run ``func`` on a worker thread, then close its connection as a request would:
    the media process lives for days, and most of its queries run outside any request,
    where nothing else would ever close them (channels' ``database_sync_to_async`` does
    the same for consumers)."""

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    # Not the shared thread-sensitive thread: a media process must not wait on whatever
    # else queued there; each call has its own connection and closes it.
    return sync_to_async(run, thread_sensitive=False)
