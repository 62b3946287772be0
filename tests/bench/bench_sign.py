"""Signing throughput: docsign's fast path against plain pyHanko, measured in the same run.

Plain pyHanko is what a straightforward integration does per document: ``SimpleSigner.load_pkcs12``
then ``signers.sign_pdf``. docsign loads the key once per process and signs through its fast signer.
Both sign the same 1-, 100- and 2,000-page PDFs, file to file, at B-B and B-LT.

Run: ``make bench`` (``pytest tests/bench -s``). ``BENCH_BIG=1`` adds the 500 MB memory check. The
numbers are printed, not asserted; only the signatures' validity is.
"""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.unit.signing.pdfgen import make_pdf

BENCH_FILES = {"1-page": 1, "100-page": 100, "2000-page": 2000}
ROUNDS = {"B-B": {"1-page": (15, 300), "100-page": (10, 100), "2000-page": (3, 10)},
          "B-LT": {"1-page": (4, 20), "100-page": (3, 10), "2000-page": (2, 4)}}
PASS = "bench-passphrase"


@pytest.fixture(scope="module")
def bench_env(test_pki, tmp_path_factory):  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("bench")
    _cert, _, p12 = test_pki.store.issue_signer("bench", __import__("docsign.pki.authority", fromlist=["name"]).name(
        "Bench Signer", "docsign bench"), "issuing")
    test_pki.store.save()
    files = {label: make_pdf(base / f"{label}.pdf", pages) for label, pages in BENCH_FILES.items()}
    return base, p12, files, test_pki


def _plain(p12: Path, passphrase: bytes, source: Path, out: Path, level: str, tsa_url: str, root):  # type: ignore[no-untyped-def]
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
    from pyhanko_certvalidator import ValidationContext

    signer = signers.SimpleSigner.load_pkcs12(str(p12), passphrase=passphrase)
    lt = level in ("B-LT", "B-LTA")
    meta = signers.PdfSignatureMetadata(
        field_name="Signature1", subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256",
        embed_validation_info=lt, use_pades_lta=level == "B-LTA",
        validation_context=ValidationContext(trust_roots=[root], allow_fetching=True) if lt else None)
    with source.open("rb") as inf, out.open("wb") as fh:
        signers.sign_pdf(IncrementalPdfFileWriter(inf), meta, signer=signer,
                         timestamper=RequestsHTTPTimeStamper(tsa_url) if lt else None, output=fh)


def _rate(fn, rounds: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up (imports, caches, font files)
    start = time.perf_counter()
    for _ in range(rounds):
        fn()
    return rounds / (time.perf_counter() - start)


def test_bench_sign(bench_env):  # type: ignore[no-untyped-def]
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization

    from docsign.pki.keys import load_key, parse_keyref
    from docsign.signing.request import Level, SignRequest
    from docsign.signing.service import sign_pdf
    from tests.unit.signing.helpers import assert_interop

    base, p12, files, pki = bench_env
    root = pki.store.authorities["root"].cert
    root_asn1 = asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER))
    passphrase = pki.store.passphrase
    key = load_key(parse_keyref(str(p12), passphrase_env="P", environ={"P": passphrase.decode()}))
    lines = [f"{'file':<10} {'level':<5} {'docsign/s':>10} {'ms/sig':>8} {'pyHanko/s':>10} {'ms/sig':>8} {'ratio':>7}"]
    for level in ("B-B", "B-LT"):
        for label, source in files.items():
            plain_rounds, ds_rounds = ROUNDS[level][label]
            out_plain, out_ds = base / f"plain-{label}-{level}.pdf", base / f"ds-{label}-{level}.pdf"
            request = SignRequest(level=Level(level), tsa_url=pki.tsa_url)
            plain = _rate(functools.partial(_plain, p12, passphrase, source, out_plain, level, pki.tsa_url, root_asn1),
                          plain_rounds)
            fast = _rate(functools.partial(sign_pdf, source, out_ds, key, request), ds_rounds)
            lines.append(f"{label:<10} {level:<5} {fast:>10.1f} {1000 / fast:>8.2f} {plain:>10.1f} "
                         f"{1000 / plain:>8.2f} {fast / plain:>6.1f}x")
            if label != "2000-page":
                assert_interop(out_ds, root, 1)
    print("\n\nsigning throughput, RSA-2048, file to file (docsign: key loaded once; pyHanko: SimpleSigner.load + "
          "sign_pdf)\n" + "\n".join(lines))


LT_ROUNDS = 15
"""Signatures per side and level in the B-LT/B-LTA comparison, docsign and pyHanko taking turns."""


def test_bench_sign_lt(bench_env):  # type: ignore[no-untyped-def]
    """One page at B-LT and B-LTA against the test PKI's TSA and OCSP responders (served over HTTP in this
    process): docsign reuses the chain's validation data while it is valid, so after the first signature
    each costs one timestamp round trip (B-LTA: two); plain pyHanko, as shipped, validates and fetches anew
    for every document. Median and best of alternating runs, so that load on the machine hits both alike."""
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization

    from docsign.pki.keys import load_key, parse_keyref
    from docsign.signing.request import Level, SignRequest
    from docsign.signing.service import sign_pdf
    from tests.unit.signing.helpers import assert_interop

    base, p12, files, pki = bench_env
    root = pki.store.authorities["root"].cert
    root_asn1 = asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER))
    key = load_key(parse_keyref(str(p12), passphrase_env="P", environ={"P": pki.store.passphrase.decode()}))
    source = files["1-page"]
    lines = [f"{'level':<6} {'docsign ms':>10} {'best':>6} {'pyHanko ms':>10} {'best':>6} {'speed-up':>8}"]
    for level in ("B-LT", "B-LTA"):
        out_plain, out_ds = base / f"plain-lt-{level}.pdf", base / f"ds-lt-{level}.pdf"
        plain = functools.partial(_plain, p12, pki.store.passphrase, source, out_plain, level, pki.tsa_url, root_asn1)
        ours = functools.partial(sign_pdf, source, out_ds, key, SignRequest(level=Level(level), tsa_url=pki.tsa_url))
        plain()
        ours()  # warm-up: the first docsign signature fetches the chain's OCSP answers
        plain_ms, ours_ms = [], []
        for _ in range(LT_ROUNDS):
            for fn, times in ((plain, plain_ms), (ours, ours_ms)):
                start = time.perf_counter()
                fn()
                times.append((time.perf_counter() - start) * 1000)
        plain_med, ours_med = statistics.median(plain_ms), statistics.median(ours_ms)
        lines.append(f"{level:<6} {ours_med:>10.1f} {min(ours_ms):>6.1f} {plain_med:>10.1f} {min(plain_ms):>6.1f} "
                     f"{plain_med / ours_med:>7.1f}x")
        assert_interop(out_ds, root, 2 if level == "B-LTA" else 1)
    print(f"1-page B-LT/B-LTA, RSA-2048, local TSA, {LT_ROUNDS} signatures each (docsign: key loaded once, "
          "validation data reused while valid; pyHanko: SimpleSigner.load + sign_pdf)\n" + "\n".join(lines))


def _median_ms(fn, rounds: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]


def test_bench_big_document(bench_env):  # type: ignore[no-untyped-def]
    """Issue 13 item 3: a 2,000-page B-B signature as fast as a 1-page one. docsign against pyHanko as
    shipped (key file opened per document) and pyHanko with its key loaded once, median of each."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    from docsign.pki.keys import load_key, parse_keyref
    from docsign.signing.request import SignRequest
    from docsign.signing.service import sign_pdf
    from tests.unit.signing.helpers import assert_interop

    base, p12, files, pki = bench_env
    passphrase = pki.store.passphrase
    key = load_key(parse_keyref(str(p12), passphrase_env="P", environ={"P": passphrase.decode()}))
    cached = signers.SimpleSigner.load_pkcs12(str(p12), passphrase=passphrase)
    meta = signers.PdfSignatureMetadata(field_name="Signature1", subfilter=SigSeedSubFilter.PADES,
                                        md_algorithm="sha256")

    def pyhanko_cached(source: Path, out: Path) -> None:
        with source.open("rb") as inf, out.open("wb") as fh:
            signers.sign_pdf(IncrementalPdfFileWriter(inf), meta, signer=cached, output=fh)

    rows = []
    for label, rounds in (("1-page", 30), ("2000-page", 15)):
        source, out = files[label], base / f"big-bench-{label}.pdf"
        ours = _median_ms(functools.partial(sign_pdf, source, out, key, SignRequest()), rounds)
        if label == "2000-page":
            assert_interop(out, pki.store.authorities["root"].cert, 1)
        shipped = _median_ms(functools.partial(_plain, p12, passphrase, source, base / "big-bench-plain.pdf", "B-B",
                                               pki.tsa_url, None), max(rounds // 3, 3))
        warm = _median_ms(functools.partial(pyhanko_cached, source, base / "big-bench-cached.pdf"), rounds)
        rows.append((label, ours, shipped, warm))
    lines = [f"{'file':<10} {'docsign ms':>10} {'pyHanko ms':>10} {'cached-key ms':>13} {'vs pyHanko':>10} "
             f"{'vs cached':>9}"]
    lines += [f"{label:<10} {ours:>10.1f} {shipped:>10.1f} {warm:>13.1f} {shipped / ours:>9.1f}x {warm / ours:>8.1f}x"
              for label, ours, shipped, warm in rows]
    small, big = rows[0][1], rows[1][1]
    print("B-B signature, RSA-2048, file to file, median ms per signature (docsign target for 2,000 pages: 30 ms)\n"
          + "\n".join(lines) + f"\ndocsign 2,000 pages / 1 page: {big / small:.1f}x", flush=True)


BIG_SCRIPT = textwrap.dedent("""
    import resource, sys, time
    from docsign.pki.keys import load_key, parse_keyref
    from docsign.signing.request import SignRequest
    from docsign.signing.service import sign_pdf
    key = load_key(parse_keyref(sys.argv[1], passphrase_env="P"))
    import os
    # current resident size now (not the import-time peak), so the difference is what signing added
    base = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    start = time.perf_counter()
    sign_pdf(sys.argv[2], sys.argv[3], key, SignRequest())
    took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{base} {peak} {took}")
""")


def write_big_pdf(path: Path, size: int) -> None:
    """A one-page PDF carrying an uncompressed ``size``-byte image stream, written in chunks."""
    side = int((size / 3) ** 0.5)
    length = side * side * 3
    offsets = []
    with path.open("wb") as fh:
        def obj(body: bytes) -> None:
            offsets.append(fh.tell())
            fh.write(b"%d 0 obj\n" % (len(offsets)) + body + b"\nendobj\n")
        fh.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        obj(b"<< /Type /Catalog /Pages 2 0 R >>")
        obj(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
        obj(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /XObject << /Im1 5 0 R >> >> >>")
        content = b"q 400 0 0 400 90 300 cm /Im1 Do Q"
        obj(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        offsets.append(fh.tell())
        fh.write(b"5 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
                 b"/BitsPerComponent 8 /Length %d >>\nstream\n" % (side, side, length))
        chunk = os.urandom(1 << 20)
        written = 0
        while written < length:
            part = chunk[: min(len(chunk), length - written)]
            fh.write(part)
            written += len(part)
        fh.write(b"\nendstream\nendobj\n")
        xref = fh.tell()
        fh.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
        for off in offsets:
            fh.write(b"%010d 00000 n \n" % off)
        fh.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref))


@pytest.mark.skipif(not os.environ.get("BENCH_BIG"), reason="set BENCH_BIG=1 to sign a 500 MB PDF")
def test_bench_big_file_memory(bench_env):  # type: ignore[no-untyped-def]
    base, p12, _, pki = bench_env
    big = base / "big.pdf"
    write_big_pdf(big, 500 * 1024 * 1024)
    out = base / "big-signed.pdf"
    env = {**os.environ, "P": pki.store.passphrase.decode()}
    proc = subprocess.run([sys.executable, "-c", BIG_SCRIPT, str(p12), str(big), str(out)], capture_output=True,
                          text=True, env=env, timeout=600, check=True)
    base_kb, peak_kb, took = proc.stdout.split()
    above = (int(peak_kb) - int(base_kb)) / 1024
    print(f"\n\n500 MB PDF ({big.stat().st_size / 2**20:.0f} MiB): signed in {float(took):.2f} s, peak memory "
          f"{above:.1f} MiB above the process baseline ({int(base_kb) / 1024:.0f} MiB)")
    from tests.unit.signing.helpers import pdfsig_signatures

    assert all(s["valid"] and s["total"] for s in pdfsig_signatures(out))
    big.unlink()
    out.unlink()
