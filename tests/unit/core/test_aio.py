"""One event loop per thread for pyHanko's coroutines, behaving like asyncio.run."""

from __future__ import annotations

import asyncio
import gc
import os
import threading

import pytest

from docsign import aio


async def _answer(value: int) -> int:
    await asyncio.sleep(0)
    return value


def test_runs_coroutines_on_one_loop_per_thread() -> None:
    loops = []

    async def which_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert aio.run(_answer(41)) == 41
    loops.append(aio.run(which_loop()))
    loops.append(aio.run(which_loop()))
    assert loops[0] is loops[1] and not loops[0].is_closed()
    other: list[asyncio.AbstractEventLoop] = []
    thread = threading.Thread(target=lambda: other.append(aio.run(which_loop())))
    thread.start()
    thread.join()
    assert other[0] is not loops[0]
    del thread
    gc.collect()
    assert other[0].is_closed()  # the thread ended: its loop is closed


def test_errors_propagate_and_leftover_tasks_are_cancelled() -> None:
    cancelled = []

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def leaves_a_task() -> None:
        asyncio.get_running_loop().create_task(forever())
        await asyncio.sleep(0)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        aio.run(leaves_a_task())
    assert cancelled == [True]
    assert aio.run(_answer(7)) == 7  # the loop is still usable


def test_a_forked_child_gets_a_loop_of_its_own() -> None:
    aio.run(_answer(1))
    parent_loop = aio._PER_THREAD.holder.loop
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        ok = aio.run(_answer(2)) == 2 and aio._PER_THREAD.holder.loop is not parent_loop
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert aio.run(_answer(3)) == 3
