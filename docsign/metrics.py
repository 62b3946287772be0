"""Prometheus metrics of the whole install (no Flask here: the workers and the relay count too).

Several processes (gunicorn's workers, Celery's pool, the relay) count into one place through
prometheus-client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set (``docsign run``,
``docsign web`` and ``docsign worker`` set it to ``<data dir>/metrics``); /metrics then adds them up.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

REQUEST_SECONDS = Histogram("docsign_http_request_seconds", "Time to answer an HTTP request.",
                            ["method", "endpoint", "status"], buckets=LATENCY_BUCKETS)
SIGN_SECONDS = Histogram("docsign_sign_seconds", "Time to sign a PDF (seal or personal signature).",
                         buckets=LATENCY_BUCKETS)
VERIFY_SECONDS = Histogram("docsign_verify_seconds", "Time to verify the signatures of a PDF.",
                           ["where"], buckets=LATENCY_BUCKETS)
TASK_RETRIES = Counter("docsign_task_retries_total", "Celery task attempts put off for a retry.", ["task"])
DEAD_LETTERS = Counter("docsign_dead_letters_total", "Deliveries dead-lettered (failed for good).")
AUDIT_ANCHOR_FAILURES = Counter("docsign_audit_anchor_failures_total",
                                "Committed audit events whose head could not be written to the head file.")
AUDIT_CHECKPOINTS = Counter("docsign_audit_checkpoints_total", "Timestamped audit checkpoints, by outcome.",
                            ["outcome"])
