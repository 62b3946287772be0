"""A whole exchange deployment in real processes, for the fault test and the exchange benchmark.

``ExchangeRig`` runs, against one database and one broker: ``docsign web`` (it serves the demo PKI's
OCSP/CRL, which verification on receipt fetches), ``docsign relay`` and one or more ``docsign worker``
processes, each in its own process group and logging to a file, so a test can SIGKILL and restart them.
``RedisServer`` is a private redis-server on a free port (never the machine's shared one) that a test
may restart; ``rabbitmq_vhost`` gives a run its own vhost on the machine's RabbitMQ.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from docsign.config import Settings
from docsign.db import session_scope
from docsign.exchange import service as exchange_service
from docsign.exchange.statuses import DeliveryState, StatusCode
from docsign.models import Delivery, Document, Exchange, OutboxMessage, StatusEvent
from tests.support.cpu import cpu_seconds
from tests.support.pki_server import free_port

ROOT = Path(__file__).resolve().parents[2]
SENDER = "000.00.00.H30"
RECIPIENTS = ("000.00.16.H30", "000.00.35.H30", "000.00.36.H30")


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"{what} did not happen within {timeout:.0f}s")


# -- processes ---------------------------------------------------------------------------------
class Service:
    """A child process in its own process group, its output in ``log``; start/kill/stop at will."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, list(argv), env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Service:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is already running"
        with open(self.log, "ab") as out:
            out.write(f"\n==== start #{self.starts + 1} of {self.name}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.starts += 1
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: the process and any children (pool processes), no goodbyes."""
        if self.proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the group (warm shutdown), SIGKILL what is left after ``timeout``."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with suppress(ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=timeout)
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the group (pool children)
        self.proc.wait(timeout=30)

    def cpu_seconds(self) -> float:
        """CPU time used so far by the live processes of the group (the process and its pool)."""
        return cpu_seconds(lambda pid, pgid: self.proc is not None and pgid == self.proc.pid)

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process on the machine (server and backends)."""
    def is_postgres(pid: int, _pgid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
        except OSError:
            return False

    return cpu_seconds(is_postgres)


class RedisServer:
    """A redis-server of this test's own on a free port; configured like the machine's (nothing on disk)."""

    def __init__(self, directory: Path, *, persistent: bool = False) -> None:
        self.directory = directory
        self.port = free_port()
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      *persistence, "--dir", str(self.directory)],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_until(self.ping, 20, f"redis-server on port {self.port} answering")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def held_messages(self) -> int:
        """Messages the server holds now: waiting in queues plus delivered but unacknowledged."""
        import redis

        client = redis.Redis(port=self.port, socket_timeout=2)
        waiting = sum(int(client.llen(key)) for key in client.scan_iter(match="agency.*", count=1000)
                      if client.type(key) == b"list")
        return waiting + int(client.hlen("unacked"))

    def stop(self) -> None:
        """Kill the server (SIGKILL: whatever it held in memory and did not persist is gone)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def restart(self, down_seconds: float = 2.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def rabbitmq_vhost(amqp_url: str) -> Iterator[str]:
    """A vhost of this run's own on the machine's RabbitMQ (others' queues and ours never mix)."""
    vhost = f"docsign-test-{uuid.uuid4().hex[:10]}"
    parts = urllib.parse.urlsplit(amqp_url)
    user = parts.username or "guest"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    try:
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
                       check=True, capture_output=True, timeout=60)
        yield urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(vhost, safe="")))
    finally:
        ensure_rabbitmq_running()
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, timeout=60)


def rabbitmq_held_messages(vhost_url: str) -> int:
    """Messages in the vhost's queues (ready and unacknowledged), as rabbitmqctl reports them."""
    vhost = urllib.parse.unquote(urllib.parse.urlsplit(vhost_url).path[1:])
    listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "--no-table-headers", "messages"],
                            capture_output=True, text=True, timeout=60)
    return sum(int(n) for n in listed.stdout.split() if n.isdigit())


def restart_rabbitmq(down_seconds: float = 1.0) -> None:
    """Stop and start the RabbitMQ application (durable queues and persistent messages survive it)."""
    try:
        subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, capture_output=True, timeout=120)
        time.sleep(down_seconds)
    finally:
        ensure_rabbitmq_running()


def ensure_rabbitmq_running() -> None:
    subprocess.run(["rabbitmqctl", "-q", "start_app"], capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "-q", "await_startup"], capture_output=True, timeout=120)


# -- the deployment ----------------------------------------------------------------------------
@dataclass
class ExchangeRig:
    """``docsign web`` + ``relay`` + workers for ``settings`` (whose broker the caller provides)."""

    settings: Settings
    env: dict[str, str]
    logs: Path
    services: dict[str, Service] = field(default_factory=dict)

    @classmethod
    def prepare(cls, settings: Settings, base_env: dict[str, str], *, broker_url: str, logs: Path,
                redeliver_after: int | None = None) -> ExchangeRig:
        """Point ``settings`` at ``broker_url`` and a web port of its own, and `init --demo` the database
        (the demo PKI names http://127.0.0.1:PORT/pki in its certificates, so the port is chosen first)."""
        port = free_port()
        public_url = f"http://127.0.0.1:{port}"
        changes: dict[str, object] = {"broker_url": broker_url, "public_url": public_url,
                                      "tsa_url": f"{public_url}/pki/tsa"}
        env = {**base_env, "DOCSIGN_BROKER_URL": broker_url, "DOCSIGN_PUBLIC_URL": public_url,
               "PYTHONUNBUFFERED": "1"}
        if redeliver_after is not None:
            changes["redeliver_after_seconds"] = redeliver_after
            env["DOCSIGN_REDELIVER_AFTER"] = str(redeliver_after)
        logs.mkdir(parents=True, exist_ok=True)
        rig = cls(dataclasses.replace(settings, **changes), env, logs)  # type: ignore[arg-type]
        done = subprocess.run([sys.executable, "-m", "docsign", "init", "--demo"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        rig.services["web"] = Service("web", [sys.executable, "-m", "docsign", "web", "--port", str(port),
                                              "--workers", "1"], env, logs / "web.log")
        return rig

    @property
    def web_port(self) -> int:
        return int(urllib.parse.urlsplit(self.settings.public_url).port or 0)

    def add_worker(self, name: str, *args: str) -> Service:
        argv = [sys.executable, "-m", "docsign", "worker", *args]
        self.services[name] = Service(name, argv, self.env, self.logs / f"{name}.log")
        return self.services[name]

    def add_relay(self, name: str = "relay") -> Service:
        self.services[name] = Service(name, [sys.executable, "-m", "docsign", "relay"], self.env,
                                      self.logs / f"{name}.log")
        return self.services[name]

    def start(self) -> None:
        self.services["web"].start()
        wait_until(self._web_up, 60, "docsign web answering /healthz")
        for name, service in self.services.items():
            if name != "web":
                service.start()

    def _web_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.settings.public_url}/healthz", timeout=2) as resp:
                return bool(json.loads(resp.read()))
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            return False

    def wait_workers_ready(self, timeout: float = 90) -> None:
        """Every worker logged that it is ready to consume."""
        for name, service in self.services.items():
            if service.argv[3:4] == ["worker"]:
                wait_until(lambda s=service: s.tail(200_000).count(" ready.") >= s.starts, timeout,
                           f"worker {name} ready")

    def stop(self) -> None:
        for name, service in reversed(list(self.services.items())):
            if name != "web":
                service.stop()
        self.services["web"].stop()

    def __enter__(self) -> ExchangeRig:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def worker_log_text(self) -> str:
        return "".join(s.log.read_text(errors="replace") for s in self.services.values()
                       if s.argv[3:4] == ["worker"] and s.log.exists())


# -- documents ---------------------------------------------------------------------------------
def make_documents(settings: Settings, count: int, directory: Path, *, sender: str = SENDER,
                   issued: bool = False) -> list[bytes]:
    """``count`` distinct PDFs sealed by ``sender``'s registered key (each its own bytes and hash). With
    ``issued``, each is verified and its verdict kept as ``issue_document`` does (the demo PKI must answer)."""
    from docsign.exchange.verdicts import record_issued
    from tests.support.documents import sealed_pdf

    pdfs = [sealed_pdf(settings, sender, directory, number=f"{n:04d}", seal_only=True).read_bytes()
            for n in range(1, count + 1)]
    for pdf in pdfs if issued else ():
        assert record_issued(settings, pdf).indication.value == "TOTAL_PASSED"
    return pdfs


def send_documents(settings: Settings, pdfs: Sequence[bytes], *, sender: str = SENDER,
                   recipients: Sequence[str] = RECIPIENTS, tag: str = "", threads: int = 1,
                   documents_per_second: float | None = None) -> list[str]:
    """Send each PDF to every recipient, one committed transaction per document (from ``threads``
    threads, as several clerks or web workers would); the exchange ids, in the order of ``pdfs``.
    With ``documents_per_second``, document n goes out no earlier than n / rate seconds after the first
    (a fixed offered load; a sender that falls behind sends at once)."""
    tag = tag or uuid.uuid4().hex[:6].upper()
    started = time.monotonic()

    def send_one(n: int) -> str:
        if documents_per_second:
            time.sleep(max(0.0, started + n / documents_per_second - time.monotonic()))
        request = exchange_service.SendRequest(sender_code=sender, recipient_codes=tuple(recipients),
                                               subject=f"Văn bản thử nghiệm số {n + 1}", code_number=f"{n + 1:04d}",
                                               code_notation=f"T{tag}")
        with session_scope(settings.database_url) as session:
            return exchange_service.send(session, settings, request, pdfs[n], actor="test").id

    if threads <= 1:
        return [send_one(n) for n in range(len(pdfs))]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sender") as pool:
        return list(pool.map(send_one, range(len(pdfs))))


class Sender(threading.Thread):
    """Sends in the background so faults can be injected while documents are still going out."""

    def __init__(self, settings: Settings, pdfs: Sequence[bytes], **kwargs: object) -> None:
        super().__init__(name="sender", daemon=True)
        self.settings, self.pdfs, self.kwargs = settings, pdfs, kwargs
        self.ids: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.ids = send_documents(self.settings, self.pdfs, **self.kwargs)  # type: ignore[arg-type]
        except BaseException as exc:
            self.error = exc


# -- what the database says --------------------------------------------------------------------
def delivered_count(settings: Settings) -> int:
    """Deliveries whose 01 has reached the sender's side."""
    with session_scope(settings.database_url) as session:
        return int(session.scalar(select(func.count(StatusEvent.id)).where(
            StatusEvent.code == StatusCode.ARRIVED.value, StatusEvent.received_at.is_not(None))) or 0)


def received_count(settings: Settings) -> int:
    """Deliveries the recipients have taken in (no longer queued)."""
    with session_scope(settings.database_url) as session:
        return int(session.scalar(select(func.count(Delivery.id)).where(
            Delivery.state != DeliveryState.QUEUED.value)) or 0)


@dataclass(frozen=True)
class Tally:
    exchanges: int
    deliveries: int
    by_state: dict[str, int]
    received_documents: int
    inbox_per_delivery: dict[int, int]
    """Delivery id → inbox documents filed for it (must be 1 each)."""
    problems: list[str]
    """Every delivery whose history is not queued + exactly one 01 that reached the sender."""
    republished: int
    """Deliveries the sweeper published again (more than one deliver message in the outbox)."""
    deliver_messages: int
    """Publications of deliveries (outbox rows; the relay sends those for one queue together)."""
    latencies: list[float]
    """Seconds from send (exchange created) to the 01 received at the sender, per delivery."""
    first_sent: float
    last_reached: float

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.inbox_per_delivery.values() if n > 1)

    @property
    def lost(self) -> int:
        return sum(1 for n in self.inbox_per_delivery.values() if n == 0)


def tally(settings: Settings) -> Tally:
    with session_scope(settings.database_url) as session:
        deliveries = session.execute(select(Delivery.id, Delivery.state, Exchange.created_at)
                                     .join(Exchange, Exchange.id == Delivery.exchange_id)).all()
        inbox = dict.fromkeys((d.id for d in deliveries), 0)
        for delivery_id, n in session.execute(select(Document.received_via_delivery_id, func.count(Document.id))
                                              .where(Document.received_via_delivery_id.is_not(None))
                                              .group_by(Document.received_via_delivery_id)):
            inbox[delivery_id] = int(n)
        received_documents = int(session.scalar(select(func.count(Document.id)).where(
            Document.received_via_delivery_id.is_not(None))) or 0)
        events: dict[int, list[tuple[str | None, str, object]]] = {d.id: [] for d in deliveries}
        for delivery_id, code, state, received_at in session.execute(
                select(StatusEvent.delivery_id, StatusEvent.code, StatusEvent.state, StatusEvent.received_at)
                .order_by(StatusEvent.id)):
            events[delivery_id].append((code, state, received_at))
        messages: dict[int, int] = {}
        for (payload,) in session.execute(select(OutboxMessage.payload)
                                          .where(OutboxMessage.task_name == exchange_service.DELIVER_TASK)):
            messages[int(payload["delivery_id"])] = messages.get(int(payload["delivery_id"]), 0) + 1
        exchanges = int(session.scalar(select(func.count(Exchange.id))) or 0)
    by_state: dict[str, int] = {}
    problems, latencies = [], []
    created = {d.id: d.created_at for d in deliveries}
    first_sent = min((c.timestamp() for c in created.values()), default=0.0)
    last_reached = first_sent
    for delivery_id, state, _created in deliveries:
        by_state[state] = by_state.get(state, 0) + 1
        history = events[delivery_id]
        arrived = [e for e in history if e[0] == StatusCode.ARRIVED.value]
        if not history or history[0][1] != DeliveryState.QUEUED.value or history[0][0] is not None:
            problems.append(f"delivery {delivery_id}: history does not start with the queued event: {history}")
        if len(arrived) != 1:
            problems.append(f"delivery {delivery_id}: {len(arrived)} 01 events (state {state})")
        elif arrived[0][2] is None:
            problems.append(f"delivery {delivery_id}: the 01 never reached the sender")
        else:
            reached = arrived[0][2].timestamp()  # type: ignore[attr-defined]
            latencies.append(reached - created[delivery_id].timestamp())
            last_reached = max(last_reached, reached)
    republished = sum(1 for n in messages.values() if n > 1)
    return Tally(exchanges, len(deliveries), by_state, received_documents, inbox, problems, republished,
                 sum(messages.values()), latencies, first_sent, last_reached)


_RECEIVED = re.compile(r"Task docsign\.exchange\.deliver\[([0-9a-f-]+)\] received")
_TASK_EVENT = re.compile(r"Task docsign\.exchange\.\w+\[([0-9a-f-]+)\] (received|succeeded|retry|raised)")


def in_flight(worker_log: str) -> int:
    """Exchange tasks a worker has taken but not finished, by its log (what a SIGKILL now catches)."""
    open_tasks: set[str] = set()
    for task_id, event in _TASK_EVENT.findall(worker_log):
        if event == "received":
            open_tasks.add(task_id)
        else:
            open_tasks.discard(task_id)
    return len(open_tasks)


def broker_redeliveries(worker_log: str) -> int:
    """Deliver messages a worker got more than once (the broker gave them again after a kill or restart)."""
    seen: dict[str, int] = {}
    for task_id in _RECEIVED.findall(worker_log):
        seen[task_id] = seen.get(task_id, 0) + 1
    return sum(n - 1 for n in seen.values())


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
