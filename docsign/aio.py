"""Running pyHanko's coroutines from synchronous code.

``asyncio.run`` builds and tears down an event loop per call, a measurable share of verifying a
one-page PDF. :func:`run` keeps one loop per thread (and process) instead; the loop is closed when the thread ends.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
_PER_THREAD = threading.local()


class _LoopHolder:
    """Lives in the thread's local storage: when the thread ends it is collected, and the loop closed."""

    def __init__(self) -> None:
        self.pid = os.getpid()  # a forked child must not share its parent's epoll instance
        self.loop = asyncio.new_event_loop()
        weakref.finalize(self, self.loop.close)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on this thread's loop, as ``asyncio.run`` would (tasks it left
    behind are cancelled). Not for use inside a running event loop."""
    holder: _LoopHolder | None = getattr(_PER_THREAD, "holder", None)
    if holder is None or holder.loop.is_closed() or holder.pid != os.getpid():
        holder = _PER_THREAD.holder = _LoopHolder()
    loop = holder.loop
    try:
        return loop.run_until_complete(coroutine)
    finally:
        left = asyncio.all_tasks(loop)
        if left:
            for task in left:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
