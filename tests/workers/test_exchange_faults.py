"""Faults, tested: documents go from one agency to three others through real worker processes while a
worker is SIGKILLed twice and the broker restarts once; afterwards every delivery is in its inbox
exactly once, with its history, and its 01 has reached the sender.

Redis: a redis-server of the test's own, configured like the machine's (nothing kept on disk), so the
restart loses whatever was queued or unacknowledged, and the relay's sweeper must publish it again.
RabbitMQ: the machine's server, in a vhost of the test's own; durable queues and persistent messages
survive ``rabbitmqctl stop_app``/``start_app``, and the server is started again whatever happens.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import ExitStack

import pytest

from tests.support.exchange_rig import (
    RECIPIENTS,
    ExchangeRig,
    RedisServer,
    Sender,
    broker_redeliveries,
    delivered_count,
    in_flight,
    make_documents,
    rabbitmq_held_messages,
    rabbitmq_vhost,
    received_count,
    restart_rabbitmq,
    tally,
)

pytestmark = [pytest.mark.brokers_only, pytest.mark.slow, pytest.mark.serial]

DOCUMENTS = {"postgres-redis": int(os.environ.get("FAULT_TEST_DOCUMENTS", "300")),
             "postgres-rabbitmq": int(os.environ.get("FAULT_TEST_DOCUMENTS_RABBITMQ", "300"))}
TIME_LIMIT_SECONDS = 360
REDELIVER_AFTER = 10
"""DOCSIGN_REDELIVER_AFTER of the run: lost messages come back after this many seconds."""


def test_every_delivery_arrives_exactly_once_through_worker_kills_and_a_broker_restart(
        backend, settings, settings_env, tmp_path):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    deadline = started + TIME_LIMIT_SECONDS
    documents = DOCUMENTS[backend.name]
    expected = documents * len(RECIPIENTS)
    with ExitStack() as stack:
        held: Callable[[], int]
        restart: Callable[[], None]
        if backend.name == "postgres-redis":
            redis = stack.enter_context(RedisServer(tmp_path / "redis"))
            broker_url, held, restart = redis.url, redis.held_messages, redis.restart
        else:
            broker_url = stack.enter_context(rabbitmq_vhost(backend.broker))
            held, restart = (lambda: rabbitmq_held_messages(broker_url)), restart_rabbitmq

        def restart_broker() -> str:
            holding = held()
            restart()
            return f"it held {holding} messages"

        rig = ExchangeRig.prepare(settings, settings_env, broker_url=broker_url, logs=tmp_path / "logs",
                                  redeliver_after=REDELIVER_AFTER)
        # One worker node for every queue: `docsign worker` names every node celery@<host>, and RabbitMQ
        # refuses a second node of the same name on one machine (its remote-control queue is exclusive).
        worker = rig.add_worker("worker", "--all", "--concurrency", "3")
        rig.add_relay()
        pdfs = make_documents(rig.settings, documents, tmp_path / "pdfs")
        stack.enter_context(rig)
        rig.wait_workers_ready()

        sender = Sender(rig.settings, pdfs)
        sender.start()
        # Each fault fires once this share of the deliveries has been taken in by the recipients: mid-run.
        faults: list[tuple[float, str, Callable[[], str]]] = [
            (0.10, "SIGKILL the worker", lambda: _kill_and_restart(worker)),
            (0.30, "restart the broker", restart_broker),
            (0.50, "SIGKILL the worker again", lambda: _kill_and_restart(worker)),
        ]
        timeline, late = [], []
        done = 0
        while time.monotonic() < deadline:
            received = received_count(rig.settings)
            if faults and received >= faults[0][0] * expected:
                _, what, fault = faults.pop(0)
                done = delivered_count(rig.settings)
                if done >= expected:
                    late.append(what)
                at = f"{time.monotonic() - started:.1f}s, {received} received/{done} answered of {expected}"
                timeline.append(f"{at}: {what} ({fault()})")
            done = delivered_count(rig.settings)
            if done >= expected and not faults:
                break
            time.sleep(0.25)
        sender.join(timeout=max(1.0, deadline - time.monotonic()))
        assert sender.error is None, f"sending failed: {sender.error!r}"
        elapsed = time.monotonic() - started
        result = tally(rig.settings)
        redeliveries = broker_redeliveries(rig.worker_log_text())
        duplicates_absorbed = rig.worker_log_text().count("duplicate message ignored")

    print(f"\n[{backend.name}] {documents} documents, {result.deliveries} deliveries in {elapsed:.0f}s; "
          + "; ".join(timeline))
    print(f"[{backend.name}] worker kills: {worker.starts - 1}, broker restarts: 1, "
          f"deliveries re-published by the sweeper: {result.republished} "
          f"({result.deliver_messages} publications of {result.deliveries} deliveries, in batches per queue), "
          f"messages the broker delivered again: {redeliveries}, duplicate deliveries absorbed by receive: "
          f"{duplicates_absorbed}; inbox duplicates: {result.duplicates}, lost: {result.lost}, "
          f"states: {result.by_state}")
    assert not late, f"these faults came after every delivery was answered, not mid-run: {late}"
    assert not faults, f"only {done}/{expected} deliveries were answered in {TIME_LIMIT_SECONDS}s; faults not " \
                       f"injected: {[f[1] for f in faults]}"
    assert done >= expected, f"only {done}/{expected} deliveries were answered within {TIME_LIMIT_SECONDS}s " \
                             f"(states: {result.by_state}); relay log:\n{rig.services['relay'].tail()}"
    assert result.exchanges == documents and result.deliveries == expected
    assert result.by_state == {"delivered": expected}
    assert result.lost == 0 and result.duplicates == 0
    assert all(n == 1 for n in result.inbox_per_delivery.values())
    assert result.received_documents == expected
    assert not result.problems, "\n".join(result.problems[:20])


def _kill_and_restart(worker) -> str:  # type: ignore[no-untyped-def]
    assert worker.running, f"{worker.name} died before it was killed:\n{worker.tail()}"
    worker.kill()
    caught = in_flight(worker.log.read_text(errors="replace").rsplit("==== start #", 1)[-1])
    time.sleep(1)
    worker.start()
    return f"{caught} tasks in flight"
