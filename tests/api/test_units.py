"""Small pieces without services: the cached page format, the bounded executor's and the pool's admission."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
import time

import pytest
from prometheus_client import generate_latest
from sqlalchemy.util import greenlet_spawn

from board.cache import CachedPage
from board.db import TimedQueuePool
from board.errors import ExecutorFull, PoolQueueFull, PoolQueueStanding
from board.executor import BoundedExecutor
from board.metrics import Metrics


def test_cached_page_round_trip_keeps_body_and_cursor() -> None:
    page = CachedPage(b'[{"id": 3}]\n', 2)
    assert CachedPage.decode(page.encode()) == page
    assert CachedPage.decode(CachedPage(b"[]", None).encode()) == CachedPage(b"[]", None)


def test_a_page_from_rows_says_whether_a_next_page_exists() -> None:
    rows = [{"id": 9, "title": "é"}, {"id": 7, "title": "b"}, {"id": 4, "title": "c"}]
    assert CachedPage.from_rows(rows, 2) == CachedPage(b'[{"id":9,"title":"\xc3\xa9"},{"id":7,"title":"b"}]', 7)
    assert CachedPage.from_rows(rows, 3).next_before is None  # no row past the page: the last page
    assert CachedPage.from_rows([], 3) == CachedPage(b"[]", None)


async def test_executor_refuses_beyond_workers_plus_queue() -> None:
    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False)
    executor = BoundedExecutor(1, 1, metrics)
    release = threading.Event()
    try:
        running = asyncio.ensure_future(executor.run("hash", release.wait, 10))
        queued = asyncio.ensure_future(executor.run("hash", release.wait, 10))
        await asyncio.sleep(0)  # both admitted before the third arrives
        with pytest.raises(ExecutorFull):
            await executor.run("verify", release.wait, 10)
        with pytest.raises(ExecutorFull):
            executor.refuse_if_full()  # the same admission, asked before any work
        assert executor.queue_depth + executor.busy == 2
        release.set()
        assert await running and await queued
        executor.refuse_if_full()  # room again
    finally:
        release.set()
        executor.shutdown()
    text = metrics.exposition().decode()
    assert "board_executor_rejections_total 2.0" in text
    assert 'board_executor_task_duration_seconds_count{task="hash"} 2.0' in text
    assert "board_executor_queue_depth 0.0" in text and "board_executor_busy_workers 0.0" in text


async def test_executor_refuses_a_task_that_waited_past_max_wait() -> None:
    """The worker is held 0.3 s; the queued task waited longer than its 0.05 s budget, so it never runs."""
    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False)
    executor = BoundedExecutor(1, 4, metrics, max_wait=0.05)
    release = threading.Event()
    ran: list[str] = []
    try:
        running = asyncio.ensure_future(executor.run("hash", release.wait, 10))
        queued = asyncio.ensure_future(executor.run("verify", ran.append, "late"))
        await asyncio.sleep(0.3)
        release.set()
        assert await running
        with pytest.raises(ExecutorFull, match="too slow"):
            await queued
        assert ran == []
        await executor.run("verify", ran.append, "on time")
        assert ran == ["on time"]
    finally:
        release.set()
        executor.shutdown()
    assert "board_executor_rejections_total 1.0" in generate_latest(metrics.registry).decode()


async def test_an_admitted_task_is_served_even_after_waiting_past_max_wait() -> None:
    """As above, but admitted at the door: refused now, its 503 would come after the whole wait."""
    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False)
    executor = BoundedExecutor(1, 4, metrics, max_wait=0.05)
    release = threading.Event()
    try:
        running = asyncio.ensure_future(executor.run("hash", release.wait, 10))
        await asyncio.sleep(0)
        with executor.admitted() as refused:
            assert refused is None  # no pace known yet: nothing predicts a wait
            queued = asyncio.ensure_future(executor.run("verify", str.upper, "served"))
            await asyncio.sleep(0.3)
            release.set()
            assert await running and await queued == "SERVED"
    finally:
        release.set()
        executor.shutdown()
    assert "board_executor_rejections_total 0.0" in generate_latest(metrics.registry).decode()


async def test_executor_refuses_at_once_a_task_that_would_wait_past_max_wait() -> None:
    """Tasks take 0.1 s here; one worker busy: the next would wait about 0.1 s > 0.05 s, so it is refused now."""
    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False)
    executor = BoundedExecutor(1, 10, metrics, max_wait=0.05)
    release = threading.Event()
    try:
        await executor.run("hash", time.sleep, 0.1)  # sets the pace
        assert executor.expected_wait() == 0  # an idle worker: no wait
        running = asyncio.ensure_future(executor.run("hash", release.wait, 10))
        await asyncio.sleep(0)
        assert executor.expected_wait() >= 0.1
        with pytest.raises(ExecutorFull, match="too slow"):
            executor.refuse_if_full()
        with pytest.raises(ExecutorFull, match="too slow"):
            await executor.run("verify", time.sleep, 0)
        release.set()
        assert await running
    finally:
        release.set()
        executor.shutdown()


async def _admission(executor: BoundedExecutor) -> ExecutorFull | None:
    with executor.admitted() as refused:
        return refused


async def test_an_admitted_request_keeps_its_place_until_its_task_runs() -> None:
    """One worker, no queue: the request admitted at the door holds the only place; others are refused."""
    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False)
    executor = BoundedExecutor(1, 0, metrics)
    try:
        with executor.admitted() as refused:
            assert refused is None
            # Another request runs in a task with a context of its own: it finds the place taken.
            other = await asyncio.create_task(_admission(executor), context=contextvars.Context())
            assert isinstance(other, ExecutorFull)
            executor.refuse_if_full()  # the admitted request itself is not refused, after any work
            assert await executor.run("verify", str.upper, "ran") == "RAN"
        assert await _admission(executor) is None  # the task finished: room again
        with executor.admitted() as refused:
            assert refused is None  # admitted, then the request ends without its task ...
        assert await _admission(executor) is None  # ... and its place is given back
    finally:
        executor.shutdown()
    assert "board_executor_rejections_total 1.0" in generate_latest(metrics.registry).decode()


async def test_inline_executor_runs_on_the_calling_thread() -> None:
    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=False, cache_enabled=False)
    executor = BoundedExecutor(1, 0, metrics, inline=True)
    try:
        assert await executor.run("verify", threading.get_ident) == threading.get_ident()
    finally:
        executor.shutdown()


def _own_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


async def test_executor_threads_run_at_the_given_nice_value_and_the_loop_does_not() -> None:
    """Linux keeps nice per thread: the bcrypt workers are lowered, the calling (loop) thread is left alone."""
    metrics = Metrics(bcrypt_rounds=4, hash_in_executor=True, cache_enabled=False)
    before = _own_nice()
    executor = BoundedExecutor(1, 0, metrics, nice=7)
    try:
        # An absolute value; an unprivileged process cannot go below the nice it already has.
        expected = 7 if os.geteuid() == 0 else max(before, 7)
        assert await executor.run("verify", _own_nice) == expected
        assert _own_nice() == before
    finally:
        executor.shutdown()


class FakeConnection:
    """What the pool needs of a DBAPI connection: rollback on return, close on dispose."""

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


def fake_pool(queue_limit: int, standing_after: float = 0.0) -> TimedQueuePool:
    pool_class = type("TestPool", (TimedQueuePool,), {"queue_limit": queue_limit, "standing_after": standing_after})
    return pool_class(FakeConnection, pool_size=1, max_overflow=0, timeout=30)


async def test_pool_refuses_a_checkout_beyond_its_queue_limit_without_waiting() -> None:
    pool = fake_pool(queue_limit=1)
    held = pool.connect()  # the only connection
    waiter = asyncio.ensure_future(greenlet_spawn(pool.connect))
    while pool.waiting < 1:
        await asyncio.sleep(0)
    assert pool.exhausted()
    with pytest.raises(PoolQueueFull):
        pool.connect()  # refused on the spot: a wait would need the greenlet context and block for 30 s
    assert pool.waiting == 1 and not waiter.done()
    held.close()
    (await waiter).close()
    assert pool.waiting == 0 and not pool.exhausted()


async def test_pool_refuses_new_waiters_once_the_queue_stands_and_admits_them_again_when_it_drains() -> None:
    pool = fake_pool(queue_limit=-1, standing_after=0.05)
    held = pool.connect()
    first = asyncio.ensure_future(greenlet_spawn(pool.connect))  # a burst: the queue was empty, so it waits
    while pool.waiting < 1:
        await asyncio.sleep(0)
    second = asyncio.ensure_future(greenlet_spawn(pool.connect))  # still a burst (queue younger than 50 ms)
    while pool.waiting < 2:
        await asyncio.sleep(0)
    await asyncio.sleep(0.06)
    with pytest.raises(PoolQueueStanding):
        pool.connect()  # the queue has stood for 60 ms: refused on the spot
    assert pool.waiting == 2
    held.close()
    (await first).close()
    (await second).close()
    assert pool.waiting == 0
    held = pool.connect()
    third = asyncio.ensure_future(greenlet_spawn(pool.connect))
    while pool.waiting < 1 and not third.done():
        await asyncio.sleep(0)
    # Drained, so a new burst waits again (a refusal would have ended `third` with PoolQueueStanding).
    assert pool.waiting == 1 and not third.done()
    held.close()
    (await third).close()
    assert pool.waiting == 0


async def test_pool_admits_waiters_to_a_queue_that_never_empties_but_keeps_moving() -> None:
    """Always one waiter, each served within a few ms of joining (target: 5 % of 1 s): not a standing queue."""
    pool = fake_pool(queue_limit=-1, standing_after=1.0)
    held = pool.connect()
    waiter = asyncio.ensure_future(greenlet_spawn(pool.connect))
    deadline = time.perf_counter() + 1.5
    while time.perf_counter() < deadline:
        while pool.waiting < 1:
            await asyncio.sleep(0)
        following = asyncio.ensure_future(greenlet_spawn(pool.connect))  # joins a queue that is never empty
        while pool.waiting < 2:
            await asyncio.sleep(0)
        held.close()  # handed to the first waiter after a short wait
        held = await waiter
        waiter = following
    assert not pool.standing_queue(time.perf_counter())
    held.close()
    (await waiter).close()


async def test_pool_queue_limit_zero_refuses_once_exhausted_and_minus_one_never_refuses() -> None:
    strict = fake_pool(queue_limit=0)
    held = strict.connect()
    with pytest.raises(PoolQueueFull):
        strict.connect()
    held.close()
    strict.connect().close()  # a free connection again: admitted
    unbounded = fake_pool(queue_limit=-1)
    held = unbounded.connect()
    waiters = [asyncio.ensure_future(greenlet_spawn(unbounded.connect)) for _ in range(5)]
    while unbounded.waiting < 5:
        await asyncio.sleep(0)
    held.close()
    for waiter in waiters:
        (await waiter).close()
