"""Domain code never imports Flask or Celery (checked in a clean interpreter)."""

import subprocess
import sys

DOMAIN_MODULES = [
    "docsign.config", "docsign.errors", "docsign.db", "docsign.models", "docsign.storage", "docsign.audit",
    "docsign.accounts", "docsign.demo", "docsign.health", "docsign.pki.authority", "docsign.pki.trust",
    "docsign.pki.demo", "docsign.pki.keys", "docsign.migrations",
    "docsign.exchange.directory", "docsign.exchange.edxml", "docsign.exchange.statuses", "docsign.exchange.service",
    "docsign.exchange.views", "docsign.documents.service", "docsign.signing.service", "docsign.signing.roles",
    "docsign.verification.engine", "docsign.verification.sandbox", "docsign.verification.etsi",
    "docsign.reports.adoption", "docsign.reports.service", "docsign.reports.export", "docsign.reports.charts",
]


def test_domain_modules_import_neither_flask_nor_celery():
    code = (
        "import importlib, sys\n"
        f"for name in {DOMAIN_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'celery', 'flask_login', 'flask_wtf'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"domain code pulled in: {out}"
