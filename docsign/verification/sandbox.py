"""Run verification of untrusted input in a worker process bounded in time and memory.

A malicious PDF (a decompression bomb, deeply nested or cyclic objects, a CMS blob that makes a
parser spin) must cost one killed worker, never a hung web worker or an exhausted machine. Workers
are forked from a forkserver that has already imported pyHanko, so starting one is cheap, and they
are reused between verifications; a worker that runs over its time is killed and replaced, one that
runs out of memory fails its verification only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import queue
import resource
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from asn1crypto import x509 as asn1_x509

from docsign.errors import DocsignError
from docsign.pki.outbound import FetchPolicy
from docsign.verification.errors import VerificationLimitExceeded, VerifierBusy
from docsign.verification.report import VerificationReport

DEFAULT_TIMEOUT_SECONDS = 60.0
"""Wall-clock bound of one verification (a 2,000-page B-LT document takes about a second)."""
DEFAULT_MEMORY_MB = 1024
"""Address space a worker may add on top of what it has after start-up."""
_PRELOAD = ["docsign.verification.engine", "docsign.verification.etsi"]
BUSY_RETRY_AFTER_SECONDS = 2
"""What a 503 from a full public pool tells the client to wait."""


@dataclass(frozen=True)
class Limits:
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB


def _worker(conn: Connection, memory_mb: int) -> None:
    try:
        with open("/proc/self/statm") as fh:
            current = int(fh.read().split()[0]) * resource.getpagesize()
        limit = current + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (OSError, ValueError):
        pass
    from docsign.pki import outbound
    from docsign.verification import engine, parsed, speedups

    speedups.install()  # this process only verifies; a pyHanko they do not fit gets none (still correct)

    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        data, roots_der, policy, offline, at, etsi_report = job
        try:
            roots = [parsed.certificate(der) for der in roots_der]
            with outbound.guarded(policy or outbound.FetchPolicy.build(roots)):
                result: tuple[str, Any] = ("ok", engine.verify_pdf(data, roots, offline=offline, at=at,
                                                                   etsi_report=etsi_report))
        except DocsignError as exc:
            result = ("error", exc)
        except MemoryError:
            result = ("limit", "The document needs more memory to verify than docsign allows.")
        except RecursionError:
            result = ("limit", "The document's structure is too deeply nested to verify.")
        except BaseException as exc:
            result = ("limit", f"The document could not be verified ({type(exc).__name__}).")
        del data, job
        try:
            conn.send(result)
        except (OSError, ValueError, MemoryError):
            return


@contextlib.contextmanager
def _allowed_to_start_workers() -> Iterator[None]:
    """Let a Celery prefork child (a billiard process) start sandbox workers, as the web does.

    multiprocessing refuses to start processes from a daemonic one (lest they be orphaned), and cannot
    pickle billiard's authentication key for the forkserver. Sandbox workers are forked by the
    forkserver, not by this process, and end when their pipe closes, so the first reason does not hold;
    the key is handed over as the same bytes in multiprocessing's own type. Both are put back after."""
    config = multiprocessing.current_process()._config  # type: ignore[attr-defined]
    saved = {k: config[k] for k in ("daemon", "authkey") if k in config}
    if config.get("daemon"):
        config["daemon"] = False
    if "authkey" in config and type(config["authkey"]) is not multiprocessing.process.AuthenticationString:
        config["authkey"] = multiprocessing.process.AuthenticationString(bytes(config["authkey"]))
    try:
        yield
    finally:
        config.update(saved)


class _Worker:
    def __init__(self, ctx: Any, memory_mb: int) -> None:
        self.conn, child = ctx.Pipe()
        with _allowed_to_start_workers():
            self.process = ctx.Process(target=_worker, args=(child, memory_mb), daemon=True)
            self.process.start()
        child.close()

    def kill(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)


class BoundedVerifier:
    """A small pool of verification workers; thread-safe; one per process and purpose (see :func:`verifier`).

    ``admission`` (the public verifier's pool): a verification that finds every worker busy, or its
    client already at ``per_client`` running verifications, is refused at once with
    :class:`VerifierBusy` (503 + Retry-After) instead of waiting for a worker; otherwise callers
    queue for a worker (agencies' own sends and receipts).
    """

    def __init__(self, limits: Limits | None = None, workers: int = 1, *, admission: bool = False,
                 per_client: int | None = None) -> None:
        self.limits = limits or Limits()
        self.workers = workers
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(_PRELOAD)
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._slots = threading.Semaphore(workers)
        self._admission = admission
        self._per_client = per_client
        self._clients: dict[str, int] = {}
        self._clients_lock = threading.Lock()

    def _admit(self, client: str | None) -> None:
        if client is not None and self._per_client is not None:
            with self._clients_lock:
                if self._clients.get(client, 0) >= self._per_client:
                    raise VerifierBusy(f"Your address already has {self._per_client} verification(s) running; "
                                       "try again when they finish.", retry_after=BUSY_RETRY_AFTER_SECONDS)
                self._clients[client] = self._clients.get(client, 0) + 1
        if not self._slots.acquire(blocking=not self._admission):
            self._leave(client)
            raise VerifierBusy("The public verifier is busy; try again in a moment.",
                               retry_after=BUSY_RETRY_AFTER_SECONDS)

    def _leave(self, client: str | None) -> None:
        if client is not None and self._per_client is not None:
            with self._clients_lock:
                left = self._clients.get(client, 0) - 1
                if left > 0:
                    self._clients[client] = left
                else:
                    self._clients.pop(client, None)

    def verify(self, data: bytes, trust_roots: Sequence[asn1_x509.Certificate], *, offline: bool = False,
               at: dt.datetime | None = None, etsi_report: bool = False, policy: FetchPolicy | None = None,
               client: str | None = None) -> VerificationReport:
        self._admit(client)
        try:
            return self._run(data, trust_roots, offline=offline, at=at, etsi_report=etsi_report, policy=policy)
        finally:
            self._slots.release()
            self._leave(client)

    def _run(self, data: bytes, trust_roots: Sequence[asn1_x509.Certificate], *, offline: bool,
             at: dt.datetime | None, etsi_report: bool, policy: FetchPolicy | None) -> VerificationReport:
        try:
            worker = self._idle.get_nowait()
            if not worker.process.is_alive():
                worker.kill()
                raise queue.Empty
        except queue.Empty:
            worker = _Worker(self._ctx, self.limits.memory_mb)
        try:
            worker.conn.send((data, [c.dump() for c in trust_roots], policy, offline, at, etsi_report))
            if not worker.conn.poll(self.limits.timeout_seconds):
                worker.kill()
                raise VerificationLimitExceeded(
                    f"Verifying the document took longer than {self.limits.timeout_seconds:g} seconds.")
            kind, value = worker.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            worker.kill()
            raise VerificationLimitExceeded("The document made the verifier stop (too much memory or a "
                                            "malformed structure).") from None
        self._idle.put(worker)
        if kind == "ok":
            return value  # type: ignore[no-any-return]
        if kind == "error":
            raise value
        raise VerificationLimitExceeded(str(value))

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                return


_VERIFIERS: dict[tuple[int, str], BoundedVerifier] = {}
_LOCK = threading.Lock()


def verifier(public: bool = False, *, workers: int = 2, per_client: int = 2,
             limits: Limits | None = None) -> BoundedVerifier:
    """The process's verifier (re-created after a fork, e.g. in each gunicorn worker): the agencies'
    pool, or with ``public`` the anonymous callers' own pool of ``workers`` with admission control
    (its size and per-client cap are fixed when the process first asks for it; ``limits`` apply from
    the next verification)."""
    key = (os.getpid(), "public" if public else "agencies")
    with _LOCK:
        found = _VERIFIERS.get(key)
        if found is None:
            for stale in [k for k in _VERIFIERS if k[0] != os.getpid()]:
                del _VERIFIERS[stale]
            found = _VERIFIERS[key] = (
                BoundedVerifier(workers=workers, admission=True, per_client=per_client) if public
                else BoundedVerifier(workers=max(1, min(4, os.cpu_count() or 1))))
        if limits is not None:
            found.limits = limits
        return found
