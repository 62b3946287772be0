"""The metrics are made once per process, even when the first users arrive together (gunicorn's gthread
worker hands its first requests to several threads at once)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_threads_asking_for_the_metrics_together_get_one_set() -> None:
    # A fresh interpreter (the metrics of this one exist already); prometheus-client's constructors are
    # slowed down so every thread is inside the first use at once: made twice, the second registration
    # raises DuplicateTimeseries (the web answered 500 to its first concurrent requests).
    code = textwrap.dedent("""
        import threading, time
        import prometheus_client
        from prometheus_client import metrics as prometheus_metrics
        original = prometheus_metrics.MetricWrapperBase.__init__
        def slow(self, *args, **kwargs):
            time.sleep(0.05)
            original(self, *args, **kwargs)
        prometheus_metrics.MetricWrapperBase.__init__ = slow
        from docsign import metrics
        start, seen, errors = threading.Barrier(8), [], []
        def first_use():
            start.wait()
            try:
                seen.append(metrics.REQUEST_SECONDS)
            except Exception as exc:
                errors.append(repr(exc))
        threads = [threading.Thread(target=first_use) for _ in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        assert not errors, errors
        assert len(seen) == 8 and all(m is seen[0] for m in seen)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
