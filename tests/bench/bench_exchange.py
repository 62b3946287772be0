"""Exchange throughput: N sealed documents to 3 recipients each through Redis, verified on receipt,
against a no-op Celery task through the same broker and worker processes, in the same run.

Run: ``make bench`` (``pytest tests/bench -s``). ``BENCH_EXCHANGE_N`` documents (default 200, so 600
deliveries). ``BENCH_EXCHANGE_RATE=50`` offers that many deliveries per second instead of sending as fast
as the senders can (a fixed load: the latency from send to 01 back at the sender is what it measures). Workers as
deployed: ``BENCH_EXCHANGE_TOPOLOGY=agency`` (default) runs one
``docsign worker --agency CODE`` per agency (each agency's own node, concurrency
``BENCH_EXCHANGE_CONCURRENCY``, default 1); ``all`` runs ``BENCH_EXCHANGE_WORKERS`` (default 2)
``docsign worker --all`` nodes. The sender is the test process itself, ``BENCH_EXCHANGE_SENDERS``
threads (default 3, as several clerks) each doing what the web app does per document (its check of the
seal, one transaction), concurrently with the workers. The documents are issued beforehand as the web app
issues them: sealed, verified once and the verdict kept, which the send reuses
(:data:`docsign.exchange.verdicts.ISSUED_VERDICTS`); every recipient verifies on receipt. Needs
PostgreSQL (DOCSIGN_TEST_POSTGRES_URL) and redis-server.
Prints deliveries per second (first send to last 01 back at the sender), p50/p95/p99 from send to
status 01 back at the sender, the ratio to the no-op baseline and where the CPU went (per delivery, which
compares across loads of the machine better than rates do). Fails only when a delivery is lost or
duplicated, never on timings. Aim: >= 150 deliveries/s on a 2-core machine; p99 under 1 s at 50/s offered.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from docsign.exchange.verdicts import ISSUED_VERDICTS
from tests.support.backends import POSTGRES, postgres_database
from tests.support.cpu import cpu_seconds
from tests.support.exchange_rig import (
    RECIPIENTS,
    SENDER,
    ExchangeRig,
    RedisServer,
    broker_redeliveries,
    delivered_count,
    make_documents,
    percentile,
    postgres_cpu_seconds,
    send_documents,
    tally,
    wait_until,
)

N = int(os.environ.get("BENCH_EXCHANGE_N", "200"))
TOPOLOGY = os.environ.get("BENCH_EXCHANGE_TOPOLOGY", "agency")
WORKERS = int(os.environ.get("BENCH_EXCHANGE_WORKERS", "2"))
CONCURRENCY = int(os.environ.get("BENCH_EXCHANGE_CONCURRENCY", "1" if TOPOLOGY == "agency" else "2"))
SENDERS = int(os.environ.get("BENCH_EXCHANGE_SENDERS", "3"))
RATE = float(os.environ.get("BENCH_EXCHANGE_RATE", "0"))
"""Deliveries per second offered (0: as fast as the senders go)."""
PINGS = 1000


@pytest.fixture
def bench_settings(tmp_path):  # type: ignore[no-untyped-def]
    if not POSTGRES:
        pytest.skip("the exchange benchmark needs PostgreSQL: set DOCSIGN_TEST_POSTGRES_URL")
    from docsign.config import load_settings, prepare_data_dir

    with postgres_database(POSTGRES) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSIGN_")}
        env.update({"DOCSIGN_DATA_DIR": str(tmp_path / "var"), "DOCSIGN_KEYS_DIR": str(tmp_path / "keys"),
                    "DOCSIGN_DATABASE_URL": url, "DOCSIGN_BROKER_URL": "redis://127.0.0.1:1/0"})
        settings = load_settings(env)
        prepare_data_dir(settings)
        yield settings, env


def _noop_rate(app, settings, queues: list[str], count: int) -> float:  # type: ignore[no-untyped-def]
    """``docsign.ping`` tasks per second: publish ``count`` over ``queues``, until the last result is stored
    (counted in the result backend's table, so the waiting costs nothing per task)."""
    from sqlalchemy import text

    from docsign.db import get_engine

    def stored() -> int:
        with get_engine(settings.database_url).connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM celery_taskmeta WHERE status = 'SUCCESS'")).scalar()
                       or 0)

    before = stored() if count else 0
    started = time.perf_counter()
    for n in range(count):
        app.send_task("docsign.ping", args=[uuid.uuid4().hex], queue=queues[n % len(queues)])
    wait_until(lambda: stored() >= before + count, 300, f"{count} no-op tasks done", interval=0.02)
    return count / (time.perf_counter() - started)


def _own_cpu_seconds() -> float:
    """This process and its verification workers (the forkserver's children stay in its process group)."""
    group = os.getpgid(0)
    return cpu_seconds(lambda _pid, pgid: pgid == group)


def test_exchange_throughput(bench_settings, tmp_path):  # type: ignore[no-untyped-def]
    settings, env = bench_settings
    with RedisServer(tmp_path / "redis") as redis:
        rig = ExchangeRig.prepare(settings, env, broker_url=redis.url, logs=tmp_path / "logs")
        agencies = (SENDER, *RECIPIENTS)
        if TOPOLOGY == "agency":
            for code in agencies:
                rig.add_worker(f"worker-{code}", "--agency", code, "--concurrency", str(CONCURRENCY))
            nodes = f"{len(agencies)} worker nodes (one per agency) x concurrency {CONCURRENCY}"
        else:
            for n in range(WORKERS):
                rig.add_worker(f"worker{n}", "--all", "--concurrency", str(CONCURRENCY))
            nodes = f"{WORKERS} worker node(s) --all x concurrency {CONCURRENCY}"
        queues = [f"agency.{code}" for code in agencies]
        rig.add_relay()
        with rig:
            started = time.perf_counter()
            pdfs = make_documents(rig.settings, N, tmp_path / "pdfs", issued=True)  # the demo PKI answers now
            made = time.perf_counter() - started
            rig.wait_workers_ready()
            from workers.app import create_celery

            app = create_celery(rig.settings)
            _noop_rate(app, rig.settings, queues, 40)  # warm-up: connections, imports in the pool processes
            noop = _noop_rate(app, rig.settings, queues, PINGS)

            cpu_before = {name: service.cpu_seconds() for name, service in rig.services.items()}
            cpu_before["postgres"], cpu_before["sender (this process)"] = postgres_cpu_seconds(), _own_cpu_seconds()
            send_started = time.perf_counter()
            send_documents(rig.settings, pdfs, threads=SENDERS,
                           documents_per_second=RATE / len(RECIPIENTS) if RATE else None)
            send_seconds = time.perf_counter() - send_started
            expected = N * len(RECIPIENTS)
            wait_until(lambda: delivered_count(rig.settings) >= expected, 120 + expected / 5,
                       f"{expected} deliveries answered with 01")
            cpu = {name: service.cpu_seconds() - cpu_before[name] for name, service in rig.services.items()}
            cpu["postgres"] = postgres_cpu_seconds() - cpu_before["postgres"]
            cpu["sender (this process)"] = _own_cpu_seconds() - cpu_before["sender (this process)"]
            result = tally(rig.settings)
            redeliveries = broker_redeliveries(rig.worker_log_text())

        assert result.received_documents == expected and result.duplicates == 0 and result.lost == 0, result.by_state
        assert not result.problems, result.problems[:10]
        wall = result.last_reached - result.first_sent
        rate = expected / wall
        lat = result.latencies
        mode = f"offered at {RATE:g} deliveries/s" if RATE else "as fast as the senders go"
        print(f"\nexchange bench: {N} documents x {len(RECIPIENTS)} recipients = {expected} deliveries through Redis, "
              f"{nodes}, verification on receipt, {mode}")
        print(f"  documents issued beforehand (sealed, verified, verdict kept) in {made:.1f}s; sending from {SENDERS} "
              f"thread(s) (seal check + write, one transaction each) took {send_seconds:.1f}s "
              f"({N / send_seconds:.1f} documents/s); issued verdicts reused: {ISSUED_VERDICTS.reused}, "
              f"verified again: {ISSUED_VERDICTS.verified}")
        print(f"  deliveries/s (first send to last 01 at the sender): {rate:.1f}  [{wall:.1f}s]")
        print(f"  latency send -> 01 at sender: p50 {percentile(lat, 50) * 1000:.0f} ms, "
              f"p95 {percentile(lat, 95) * 1000:.0f} ms, p99 {percentile(lat, 99) * 1000:.0f} ms")
        print(f"  no-op task round trips/s (docsign.ping, same broker and workers): {noop:.1f}")
        print(f"  ratio deliveries/s : no-op tasks/s = {rate / noop:.3f}  (1 : {noop / rate:.1f})")
        print(f"  deliveries re-published by the sweeper: {result.republished}; broker redeliveries: {redeliveries}")
        print(f"  CPU per delivery (ms), {sum(cpu.values()):.1f}s in all: "
              + ", ".join(f"{name} {seconds / expected * 1000:.1f}" for name, seconds in cpu.items()))
