"""Verification speed, each number next to plain pyHanko measured in the same run.

Run: ``make bench`` or ``.venv/bin/python tests/bench/bench_verify.py``. Prints the machine's load first
(:func:`tests.bench.machine.machine_line`), then:

1. In one process, fastest of alternating runs: plain pyHanko's ``validate_pdf_signature`` against
   docsign's full report (libraries as shipped: importing docsign patches nothing), and docsign with
   the pyHanko speedups its sandbox workers install (:mod:`docsign.verification.speedups`), switched
   on only around that column's runs; 1- and 2,000-page documents, B-B and B-LT.
2. ``POST /api/v1/verify`` under gunicorn as ``docsign web`` runs it (2 workers, gthread, 4 threads
   each; the public pool, the per-client cap and the rate limit all on), three runs of
   ``BENCH_VERIFY_N`` (default 400) requests each. Every request posts a different 1-page B-LT
   document (distinct content and signature, so no cache keyed by the document can help), from
   ``BENCH_VERIFY_CLIENTS`` (default 4) client processes whose connections come from 32 loopback
   addresses (127.0.0.16-47), so each address stays within the default per-client cap and rate
   limit. Only the public pool is widened, to as many slots per web process as there are clients
   (DOCSIGN_VERIFY_CONCURRENCY): gunicorn may hand all in-flight requests to one worker, and a full
   pool answers 503 at once. Rate-limit counters live in DOCSIGN_TEST_REDIS_URL when it is set
   (as an install with Redis), otherwise the limit is switched off (an uninitialised SQLite install
   has no counter table) and the output says so.
   Baseline, same run: plain pyHanko's in-process rate on the same kind of documents (reading the
   DSS into its ValidationContext, as pyHanko documents LT validation), and the ratio; server CPU
   per verification (web, sandbox and gunicorn processes) against plain pyHanko's CPU per
   verification. Aim: >= 150 verifications/s on 2 cores, steady across the three runs.

Fails only on wrong verdicts or failed requests, never on timings.
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

from asn1crypto import cms, core
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import as_signing_certificate, get_pyca_cryptography_hash, simple_cms_attribute
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

from docsign.pki.trust import REVOCATION_CACHE, TrustStore, build_validation_context
from docsign.verification import speedups
from docsign.verification.engine import verify_pdf
from tests.bench.machine import machine_line
from tests.support.cpu import cpu_seconds
from tests.support.pki_server import build_test_pki, free_port, serve_pki
from tests.unit.verification.pdfs import Kit, text_pdf, to_asn1

logging.disable(logging.WARNING)

PER_RUN = int(os.environ.get("BENCH_VERIFY_N", "400"))
CLIENTS = int(os.environ.get("BENCH_VERIFY_CLIENTS", "4"))
RUNS = 3
WARM_UP = 40
ADDRESSES = [f"127.0.0.{n}" for n in range(16, 48)]
"""Client source addresses: 3 x 400 requests over 32 addresses stay far below the default 600/minute each."""


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


# -- distinct 1-page B-LT documents, made quickly ------------------------------------------------
class _LoadedKeyTimeStamper(DummyTimeStamper):
    """pyHanko's in-process TSA with its RSA key parsed once (pyHanko parses it again for every token,
    which on a busy 2-core machine made the documents take longer to make than to verify)."""

    def __init__(self, key, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(tsa_key=None, **kwargs)  # type: ignore[arg-type]
        self._key = key

    def _sign_tst_info(self, tst_info_data: bytes, md_algorithm: str, dt):  # type: ignore[no-untyped-def]
        digest = hashes.Hash(get_pyca_cryptography_hash(md_algorithm))
        digest.update(tst_info_data)
        attrs = cms.CMSAttributes([
            simple_cms_attribute("content_type", "tst_info"),
            simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
            simple_cms_attribute("signing_certificate", as_signing_certificate(self.tsa_cert)),
            simple_cms_attribute("message_digest", digest.finalize()),
        ])
        return self._key.sign(attrs.dump(), PKCS1v15(), get_pyca_cryptography_hash(md_algorithm.upper())), attrs


def distinct_blt_documents(kit: Kit, count: int) -> list[bytes]:
    """``count`` 1-page PAdES B-LT documents, each with its own text (so its own digest and signature).

    The first is signed with revocation data fetched from the test PKI over HTTP; the rest reuse those
    OCSP responses (still fresh) and a timestamp made in-process by the same TSA, so making them costs
    a few milliseconds each instead of three HTTP round trips to a single-threaded test server."""
    from docsign.pki.keys import load_key, parse_keyref
    from docsign.signing.fast import FastSigner

    store = kit.store
    signer_label = "bench-http"
    kit.signer(signer_label, common_name="Bench HTTP Signer")
    p12 = store.directory / store.leaves[signer_label]["file"]
    signer = FastSigner(load_key(parse_keyref(str(p12), passphrase_env="P",
                                              environ={"P": store.passphrase.decode()})))
    assert store.tsa is not None
    stamper = _LoadedKeyTimeStamper(store.tsa.key, tsa_cert=to_asn1(store.tsa.cert),
                                    certs_to_embed=[to_asn1(c) for c in store.chain_of("root")])

    def sign(n: int, context: ValidationContext) -> bytes:
        meta = signers.PdfSignatureMetadata(field_name="Signature1", subfilter=fields.SigSeedSubFilter.PADES,
                                            embed_validation_info=True, validation_context=context)
        out = io.BytesIO()
        signers.PdfSigner(meta, signer, timestamper=stamper).sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(text_pdf(1, f"Quyet dinh so {n}/QD-UBND")), strict=False),
            output=out)
        return out.getvalue()

    online = ValidationContext(trust_roots=[kit.root], allow_fetching=True, revocation_mode="hard-fail")
    documents = [sign(0, online)]
    ocsps, crls = list(online.ocsps), list(online.crls)
    for n in range(1, count):
        documents.append(sign(n, ValidationContext(trust_roots=[kit.root], ocsps=ocsps, crls=crls,
                                                   allow_fetching=False, revocation_mode="hard-fail")))
    assert len(set(documents)) == count
    return documents


# -- plain pyHanko's rate on the same kind of documents -------------------------------------------
def plain_pyhanko_lt(data: bytes, root) -> bool:  # type: ignore[no-untyped-def]
    """B-LT the way pyHanko documents it: the DSS's revocation data in the ValidationContext."""
    reader = PdfFileReader(io.BytesIO(data))
    vc = DocumentSecurityStore.read_dss(reader).as_validation_context(
        {"trust_roots": [root], "allow_fetching": False, "revocation_mode": "hard-fail"})
    return validate_pdf_signature(reader.embedded_signatures[0], vc).bottom_line


def in_process_rate(fn, documents: list[bytes], root) -> tuple[float, float, bool]:  # type: ignore[no-untyped-def]
    """(verifications/s, CPU seconds per verification, all passed) over ``documents`` in this process."""
    fn(documents[0], root)
    wall, cpu = time.perf_counter(), time.process_time()
    passed = all(fn(d, root) for d in documents)
    return len(documents) / (time.perf_counter() - wall), (time.process_time() - cpu) / len(documents), passed


# -- HTTP ----------------------------------------------------------------------------------------
def _post(conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
    for attempt in (1, 2):
        try:
            conn.request("POST", "/api/v1/verify", body=body, headers={"Content-Type": "application/pdf"})
            response = conn.getresponse()
            return response.status, response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            conn.close()  # gunicorn closed the idle keep-alive connection (after 2 s): connect again
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _client(port: int, documents: list[bytes], addresses: list[str], results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """POST each document once, round robin over keep-alive connections from ``addresses``."""
    statuses: dict[int | str, int] = {}
    passed = 0
    try:
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(a, 0))
                 for a in addresses]
        for n, body in enumerate(documents):
            status, answer = _post(conns[n % len(conns)], body)
            statuses[status] = statuses.get(status, 0) + 1
            passed += status == 200 and b'"TOTAL_PASSED"' in answer
    except Exception as exc:  # counted, so the bench reports it instead of waiting for a result
        statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
    results.put((statuses, passed))


GUNICORN = ["-w", "2", "-k", "gthread", "--threads", "4"]
"""What ``docsign web`` runs (docsign/web/server.py): 2 workers, 4 threads each."""


def _is_sandbox(pid: int) -> bool:
    try:
        return b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class HttpRun:
    def __init__(self, rate: float, statuses: dict[int | str, int], passed: int, cpu: tuple[float, ...],
                 load: float) -> None:
        self.rate, self.statuses, self.passed, self.load = rate, statuses, passed, load
        self.web_cpu, self.sandbox_cpu = cpu
        self.cpu_per = sum(cpu)


def http_runs(documents: list[bytes], root_pem: bytes, runs: int = RUNS, clients: int = CLIENTS
              ) -> tuple[list[HttpRun], str]:
    """Serve, warm up, then ``runs`` runs over disjoint slices of ``documents``: the warm-up and each run,
    and what the limiter used."""
    redis = os.environ.get("DOCSIGN_TEST_REDIS_URL")
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSIGN_")}
        env.update({"DOCSIGN_DATA_DIR": f"{tmp}/var", "DOCSIGN_KEYS_DIR": f"{tmp}/keys",
                    "DOCSIGN_VERIFY_CONCURRENCY": str(max(2, clients)),
                    "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
        if redis:
            env["DOCSIGN_RATELIMIT_STORAGE"] = redis
            limiter = f"rate limit on (default 600/minute per address, counted in Redis {redis})"
        else:
            env["DOCSIGN_VERIFY_RATE"] = "off"
            limiter = "rate limit OFF (set DOCSIGN_TEST_REDIS_URL to count it in Redis)"
        Path(tmp, "root.pem").write_bytes(root_pem)
        TrustStore(Path(tmp, "var", "trust")).add(Path(tmp, "root.pem"))
        port = free_port()
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), *GUNICORN, "-b", f"127.0.0.1:{port}", "--log-level",
             "warning", "--access-logfile", "-", "tests.bench.verify_wsgi:app"], env=env,
            cwd=str(Path(__file__).resolve().parents[2]), stdout=subprocess.DEVNULL,
            start_new_session=True)  # its own process group: gunicorn, its workers and their sandboxes

        def server_cpu() -> tuple[float, float]:
            """(web: gunicorn and its workers, sandbox: the forkserver and the verification processes)."""
            sandbox = cpu_seconds(lambda pid, pgid: pgid == server.pid and _is_sandbox(pid))
            return cpu_seconds(lambda _pid, pgid: pgid == server.pid) - sandbox, sandbox

        def load(batch: list[bytes]) -> tuple[float, dict[int | str, int], int, tuple[float, ...]]:
            results = multiprocessing.Queue()  # type: ignore[var-annotated]
            share = len(ADDRESSES) // clients
            procs = [multiprocessing.Process(target=_client, args=(
                port, batch[n::clients], ADDRESSES[n * share:(n + 1) * share], results)) for n in range(clients)]
            cpu_before = server_cpu()
            started = time.perf_counter()
            for p in procs:
                p.start()
            outcome = [results.get(timeout=600) for _ in procs]
            elapsed = time.perf_counter() - started
            cpu = tuple(after - before for after, before in zip(server_cpu(), cpu_before, strict=True))
            for p in procs:
                p.join()
            statuses: dict[int | str, int] = {}
            for got, _ in outcome:
                for status, count in got.items():
                    statuses[status] = statuses.get(status, 0) + count
            return len(batch) / elapsed, statuses, sum(p for _, p in outcome), tuple(c / len(batch) for c in cpu)

        try:
            for _ in range(100):
                try:
                    http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                    break
                except OSError:
                    time.sleep(0.2)
            warm_up = load(documents[:WARM_UP])  # every worker and its sandbox processes started and warm
            done = [HttpRun(warm_up[0], warm_up[1], warm_up[2], warm_up[3], os.getloadavg()[0])]
            per_run = (len(documents) - WARM_UP) // runs
            for n in range(runs):
                batch = documents[WARM_UP + n * per_run: WARM_UP + (n + 1) * per_run]
                rate, statuses, passed, cpu_per = load(batch)
                done.append(HttpRun(rate, statuses, passed, cpu_per, os.getloadavg()[0]))
            return done, limiter
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
            started = time.perf_counter()
            documents = distinct_blt_documents(kit, WARM_UP + RUNS * PER_RUN)
            made = time.perf_counter() - started
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

        sample = documents[:100]
        plain_rate, plain_cpu, plain_ok = in_process_rate(plain_pyhanko_lt, sample, root)
        if not plain_ok:
            wrong.append(("plain pyHanko", "B-LT", "not valid"))
        root_pem = store.authorities["root"].cert.public_bytes(serialization.Encoding.PEM)
        (warm_up, *runs), limiter = http_runs(documents, root_pem)
        if warm_up.statuses.get(200, 0) != WARM_UP:
            wrong.append(("HTTP warm-up", warm_up.statuses))
        per_run = (len(documents) - WARM_UP) // RUNS
        print(f"\nHTTP POST /api/v1/verify, 1-page B-LT, gunicorn {' '.join(GUNICORN)}, {CLIENTS} client processes "
              f"on {len(ADDRESSES)} loopback addresses, a different document per request ({len(documents)} made in "
              f"{made:.1f}s); {limiter}; public pool {max(2, CLIENTS)} per web process")
        print(f"  baseline, same run: plain pyHanko in this process (DSS read into its ValidationContext): "
              f"{plain_rate:.1f} verifications/s, {plain_cpu * 1000:.1f} ms CPU each")
        cores = os.cpu_count() or 1
        for n, run in enumerate(runs, 1):
            print(f"  run {n}: {run.rate:6.1f} verifications/s ({run.rate / plain_rate:.2f}x plain pyHanko's "
                  f"in-process rate); server CPU {run.cpu_per * 1000:.1f} ms per verification (web "
                  f"{run.web_cpu * 1000:.1f} + sandbox {run.sandbox_cpu * 1000:.1f}; {run.cpu_per / plain_cpu:.2f}x "
                  f"plain pyHanko's; {cores} cores allow ~{cores / run.cpu_per:.0f}/s when nothing else runs); "
                  f"answers {run.statuses}; load average after {run.load:.1f}")
            if run.statuses.get(200, 0) != per_run or run.passed != per_run:
                wrong.append(("HTTP run", n, run.statuses, run.passed))
        rates = [run.rate for run in runs]
        print(f"  spread across the runs: {min(rates):.1f}-{max(rates):.1f}/s "
              f"({(max(rates) - min(rates)) / max(rates) * 100:.0f}% of the fastest)")
    if wrong:
        print(f"WRONG VERDICTS OR FAILED REQUESTS: {wrong}")
        return 1
    return 0


def test_bench_verify() -> None:
    """``make bench`` runs it too."""
    assert main() == 0, "a verdict was wrong (see above)"


if __name__ == "__main__":
    print(machine_line(), flush=True)  # under pytest, tests/bench/conftest.py prints it
    sys.exit(main())
