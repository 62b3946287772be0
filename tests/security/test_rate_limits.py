"""Item 4: rate limits hold across the web processes of one install (gunicorn runs several).

Attack: spread requests over two web processes so that each sees only its share. With per-process
token buckets each process allowed the full rate, so N processes allowed N times the limit; now the
processes count in the install's shared store (the database, or Redis when the broker is Redis).
"""

from __future__ import annotations

from tests.security.conftest import app_with, log_in


def _verify(client, ip: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/verify", data=b"not a pdf", content_type="application/pdf",
                       environ_base={"REMOTE_ADDR": ip})


def test_the_verify_limit_is_shared_by_every_web_process(site):  # type: ignore[no-untyped-def]
    first, second = (app_with(site, verify_rate=(4, 3600)).test_client() for _ in range(2))
    answers = [_verify(client, "198.51.100.20").status_code for client in (first, second, first, second)]
    assert answers == [415] * 4  # counted (and refused as input: not a PDF)
    over = _verify(second, "198.51.100.20")
    assert over.status_code == 429, "the second process did not see the first one's requests"
    assert over.mimetype == "application/problem+json" and over.json["type"].endswith("/rate_limited")
    assert int(over.headers["Retry-After"]) > 60
    assert _verify(first, "198.51.100.21").status_code == 415  # another client is not affected


def test_login_attempts_are_limited_per_client_across_processes(site):  # type: ignore[no-untyped-def]
    first, second = (app_with(site, login_rate=(3, 3600)).test_client() for _ in range(2))
    statuses = [log_in(client, "nobody", "wrong-password", ip="198.51.100.30").status_code
                for client in (first, second, first)]
    assert statuses == [401] * 3
    refused = log_in(second, "tinh.vanthu", ip="198.51.100.30")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert log_in(second, "tinh.vanthu", ip="198.51.100.31").status_code == 302


def test_the_store_is_the_installs_own(site):  # type: ignore[no-untyped-def]
    from docsign.web import limiter

    app = app_with(site)
    with app.app_context():
        store = limiter.storage()
    expected = "DatabaseStorage" if site.ratelimit_storage == "database" else "RedisStorage"
    assert type(store).__name__ == expected
    assert store.check()


def test_headers_come_from_the_count_itself(site):  # type: ignore[no-untyped-def]
    """One store round trip per request: the X-RateLimit-* headers are the increment's own answer, so
    they count every process's requests and the window's end, as a separate read after the view did."""
    import time

    first, second = (app_with(site, verify_rate=(3, 3600)).test_client() for _ in range(2))
    answers = [_verify(client, "198.51.100.40") for client in (first, second, first)]
    assert [a.status_code for a in answers] == [415] * 3
    assert [int(a.headers["X-RateLimit-Remaining"]) for a in answers] == [2, 1, 0]
    assert {int(a.headers["X-RateLimit-Limit"]) for a in answers} == {3}
    for answer in answers:
        assert time.time() + 3500 < int(answer.headers["X-RateLimit-Reset"]) <= time.time() + 3602
    over = _verify(second, "198.51.100.40")
    assert over.status_code == 429 and over.headers["X-RateLimit-Remaining"] == "0"
    assert 3500 < int(over.headers["Retry-After"]) <= 3601
    assert _verify(first, "198.51.100.41").headers["X-RateLimit-Remaining"] == "2"  # its own window
