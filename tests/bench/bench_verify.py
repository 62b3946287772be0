"""Verification speed: plain pyHanko ``validate_pdf_signature`` vs docsign's full report, same run.

Run: ``make bench`` or ``.venv/bin/python tests/bench/bench_verify.py``. Prints timings and ratios
(docsign aims at <= 1.2x plain pyHanko as shipped for one page) and the HTTP rate of POST
/api/v1/verify under gunicorn with the settings of ``docsign web`` (2 workers, gthread, 4 threads
each) with a load generator in other processes (aim: >= 50/s). Fails only on wrong verdicts, never on
timings.

Columns: plain pyHanko's ``validate_pdf_signature`` and docsign's engine, both with the libraries as
shipped (importing docsign patches nothing); and docsign with the pyHanko speedups its sandbox
workers install (:mod:`docsign.verification.speedups`), switched on only around that column's runs.
The HTTP server verifies in sandbox workers, so with the speedups.
"""

from __future__ import annotations

import http.client
import io
import logging
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature

from docsign.pki.trust import REVOCATION_CACHE, TrustStore, build_validation_context
from docsign.verification import speedups
from docsign.verification.engine import verify_pdf
from tests.support.cpu import cpu_seconds
from tests.support.pki_server import build_test_pki, free_port, serve_pki
from tests.unit.verification.pdfs import Kit, text_pdf

logging.disable(logging.WARNING)


def plain_pyhanko(data: bytes, root) -> bool:  # type: ignore[no-untyped-def]
    reader = PdfFileReader(io.BytesIO(data))
    vc = build_validation_context([root], offline=True)
    return validate_pdf_signature(reader.embedded_signatures[0], vc).bottom_line


def docsign_report(data: bytes, root) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    report = verify_pdf(data, [root], offline=True)
    report.to_dict()
    sig = report.signatures[0]
    return sig.indication.value, sig.sub_indication


def with_speedups(data: bytes, root) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    """docsign's engine as a sandbox worker runs it: with the pyHanko speedups installed."""
    speedups.install()
    try:
        return docsign_report(data, root)
    finally:
        speedups.uninstall()


def best_of(*fns, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Fastest time of each function, run alternately: on a shared machine, noise only ever adds time,
    and alternating gives all the same chances."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, bucket in zip(fns, times, strict=True):
            started = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - started)
    return [min(t) for t in times]


def _load(port: int, body: bytes, requests: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    ok = 0
    for _ in range(requests):
        conn.request("POST", "/api/v1/verify", body=body, headers={"Content-Type": "application/pdf"})
        response = conn.getresponse()
        response.read()
        ok += response.status == 200
    results.put(ok)


GUNICORN = ["-w", "2", "-k", "gthread", "--threads", "4"]
"""What ``docsign web`` runs (docsign/web/server.py): 2 workers, 4 threads each."""


def http_rate(data: bytes, root_pem: bytes, total: int = 900, clients: int = 4,
              gunicorn: list[str] = GUNICORN) -> tuple[float, int, float]:
    """(answers per second, answers 200, server CPU seconds per answer: gunicorn, workers, sandboxes)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DOCSIGN_DATA_DIR": f"{tmp}/var", "DOCSIGN_KEYS_DIR": f"{tmp}/keys",
               "DOCSIGN_VERIFY_RATE": "1000000/minute",  # one client address: the limiter must not throttle
               "DOCSIGN_VERIFY_CONCURRENCY": "4", "DOCSIGN_VERIFY_PER_CLIENT": "8",  # nor the public pool
               "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        Path(tmp, "root.pem").write_bytes(root_pem)
        TrustStore(Path(tmp, "var", "trust")).add(Path(tmp, "root.pem"))
        port = free_port()
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), *gunicorn, "-b", f"127.0.0.1:{port}", "--log-level",
             "warning", "tests.bench.verify_wsgi:app"], env=env, cwd=str(Path(__file__).resolve().parents[2]),
            start_new_session=True)  # its own process group: gunicorn, its workers and their sandboxes

        def server_cpu() -> float:
            return cpu_seconds(lambda _pid, pgid: pgid == server.pid)

        try:
            for _ in range(100):
                try:
                    http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                    break
                except OSError:
                    time.sleep(0.2)
            warm = multiprocessing.Queue()  # type: ignore[var-annotated]
            warmers = [multiprocessing.Process(target=_load, args=(port, data, 10, warm)) for _ in range(clients)]
            for p in warmers:  # warm every worker and its verification sandboxes
                p.start()
            for p in warmers:
                p.join()
            results = multiprocessing.Queue()  # type: ignore[var-annotated]
            procs = [multiprocessing.Process(target=_load, args=(port, data, total // clients, results))
                     for _ in range(clients)]
            cpu_before = server_cpu()
            started = time.perf_counter()
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            elapsed = time.perf_counter() - started
            cpu = server_cpu() - cpu_before
            ok = sum(results.get() for _ in procs)
            return ok / elapsed, ok, cpu / max(ok, 1)
        finally:
            server.terminate()
            server.wait(timeout=10)


def main() -> int:
    from cryptography.hazmat.primitives import serialization

    wrong = []
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        store = build_test_pki(Path(tmp) / "pki", port)
        with serve_pki(store, port) as url:
            kit = Kit(store, url, f"{url}/pki/tsa")
            signer = kit.signer("bench", common_name="Bench Signer")
            files = {}
            for pages in (1, 2000):
                base = text_pdf(pages)
                for level in ("B-B", "B-LT"):
                    files[(pages, level)] = kit.sign(base, signer, level=level)
        # the PKI server is stopped now: nothing below can use the network
        root = kit.root
        REVOCATION_CACHE.clear()
        expected = {"B-B": ("INDETERMINATE", "TRY_LATER"), "B-LT": ("TOTAL_PASSED", None)}
        print(f"{'document':<22}{'plain pyHanko':>15}{'docsign':>12}{'ratio':>8}{'+speedups':>12}{'ratio':>8}"
              "  docsign verdict   (fastest runs; libraries as shipped but the +speedups column)")
        for (pages, level), data in files.items():
            repeat = 40 if pages == 1 else 7
            plain_pyhanko(data, root), docsign_report(data, root), with_speedups(data, root)  # warm up
            plain, ours, fast = best_of(lambda d=data: plain_pyhanko(d, root), lambda d=data: docsign_report(d, root),
                                        lambda d=data: with_speedups(d, root), repeat=repeat)
            verdict = docsign_report(data, root)
            if verdict != expected[level] or with_speedups(data, root) != verdict or not plain_pyhanko(data, root):
                wrong.append((pages, level, verdict))
            print(f"{f'{pages} page(s) {level}':<22}{plain * 1000:>12.1f} ms{ours * 1000:>9.1f} ms"
                  f"{ours / plain:>7.2f}x{fast * 1000:>9.1f} ms{fast / plain:>7.2f}x"
                  f"  {verdict[0]}{'/' + verdict[1] if verdict[1] else ''}")
        root_pem = store.authorities["root"].cert.public_bytes(serialization.Encoding.PEM)
        rate, ok, cpu = http_rate(files[(1, "B-LT")], root_pem)
        cores = os.cpu_count() or 1
        print(f"HTTP POST /api/v1/verify, 1-page B-LT, gunicorn {' '.join(GUNICORN)}, 4 client processes: "
              f"{rate:.1f} verifications/s ({ok} answered 200)")
        print(f"  server CPU per verification {cpu * 1000:.1f} ms (web + sandbox processes): {cores} cores allow "
              f"~{cores / cpu:.0f}/s when nothing else runs; load average now {os.getloadavg()[0]:.1f}")
    if wrong:
        print(f"WRONG VERDICTS: {wrong}")
        return 1
    return 0


def test_bench_verify() -> None:
    """``make bench`` runs it too."""
    assert main() == 0, "a verdict was wrong (see above)"


if __name__ == "__main__":
    sys.exit(main())
