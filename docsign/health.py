"""Health of the parts a running docsign needs: database, broker, blob store, keys."""

from __future__ import annotations

from dataclasses import dataclass

from docsign.config import Settings
from docsign.db import check_database
from docsign.errors import DocsignError, ServiceUnavailable
from docsign.storage import BlobStore

BROKER_TIMEOUT_SECONDS = 3


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


def check_broker(broker_url: str) -> None:
    from kombu import Connection

    try:
        with Connection(broker_url, connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:  # kombu raises transport-specific errors; all mean "not reachable"
        raise ServiceUnavailable(f"the message broker does not answer ({type(exc).__name__}: {exc})") from None


def check_keys(settings: Settings) -> str:
    from docsign.pki import demo

    if not settings.keys_dir.is_dir():
        raise ServiceUnavailable(f"the keys directory {settings.keys_dir} does not exist")
    if demo.demo_pki_exists(settings):
        # The key files are there and readable; decrypting them (a key derivation per key) is left to
        # the code that signs, so that a health probe costs next to nothing.
        key_files = sorted(demo.demo_dir(settings).glob("*.key.pem"))
        if not key_files:
            raise ServiceUnavailable("the demo PKI has no key files")
        for path in key_files:
            try:
                with path.open("rb") as fh:
                    if not fh.read(64).startswith(b"-----BEGIN"):
                        raise ServiceUnavailable(f"{path.name} is not a PEM key file")
            except OSError as exc:
                raise ServiceUnavailable(f"cannot read {path.name} ({exc.strerror})") from None
        settings.keystore_passphrase  # noqa: B018 - readable, or StorageError
        return f"demo PKI: {len(key_files)} key files"
    return "no demo PKI"


def check_all(settings: Settings) -> dict[str, Check]:
    results: dict[str, Check] = {}
    probes = {
        "database": lambda: check_database(settings.database_url) or "reachable",
        "broker": lambda: check_broker(settings.broker_url) or "reachable",
        "blob_store": lambda: BlobStore(settings.blob_dir).check_writable() or "writable",
        "keys": lambda: check_keys(settings),
    }
    for part, probe in probes.items():
        try:
            results[part] = Check(True, str(probe()))
        except DocsignError as exc:
            results[part] = Check(False, exc.message)
    return results
