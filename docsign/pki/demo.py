"""The demo PKI: a stand-in "government" root, an issuing CA, a TSA and an OCSP responder.

It lives in ``<keys dir>/demo/`` (git-ignored), its private keys encrypted with the data dir's
keystore passphrase, and the web app serves its CRLs, OCSP answers and timestamps under ``/pki``.
It is for trying docsign out: a real deployment trusts the government CA (Ban Cơ yếu Chính phủ).
"""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography import x509

from docsign.config import Settings
from docsign.pki.authority import INDEX_FILE, PkiStore, PrivateKey, Profile, name

log = logging.getLogger(__name__)
DEMO_ORG = "docsign DEMO PKI - not for real use"
ISSUING_CA = "issuing"


def demo_dir(settings: Settings) -> Path:
    return settings.keys_dir / "demo"


def demo_pki_exists(settings: Settings) -> bool:
    return (demo_dir(settings) / INDEX_FILE).is_file()


def load_demo_pki(settings: Settings) -> PkiStore:
    return PkiStore.load(demo_dir(settings), settings.keystore_passphrase)


def ensure_demo_pki(settings: Settings) -> tuple[PkiStore, bool]:
    """Load the demo PKI, creating it first when absent. Returns (store, created)."""
    if demo_pki_exists(settings):
        return load_demo_pki(settings), False
    log.warning("creating the demo PKI in %s: for trying docsign out, never for real documents", demo_dir(settings))
    store = PkiStore(demo_dir(settings), settings.keystore_passphrase, settings.public_url)
    store.add_ca("root", name("docsign DEMO Government Root CA", DEMO_ORG))
    store.add_ca(ISSUING_CA, name("docsign DEMO CA for State Agencies", DEMO_ORG), parent="root")
    store.add_service("tsa", name("docsign DEMO Time-Stamping Authority", DEMO_ORG), "root", Profile.TSA)
    store.add_service("ocsp", name("docsign DEMO OCSP Responder", DEMO_ORG), ISSUING_CA, Profile.OCSP)
    store.save()
    return store, True


def issue_seal(store: PkiStore, *, agency_code: str, agency_name: str, locality: str | None = None,
               email: str | None = None) -> tuple[x509.Certificate, PrivateKey, Path]:
    """An organisation certificate: O and CN are the agency's name, OU its QCVN 102 code; with the
    agency's e-mail address (rfc822Name) and the e-mail protection usage, for signed notifications."""
    issued = store.issue_signer(f"seal-{agency_code}", name(agency_name, agency_name, unit=agency_code,
                                                            locality=locality), ISSUING_CA, email=email)
    store.save()
    return issued


def issue_personal(store: PkiStore, *, login: str, full_name: str, agency_name: str,
                   locality: str | None = None) -> tuple[x509.Certificate, PrivateKey, Path]:
    issued = store.issue_signer(f"person-{login}", name(full_name, agency_name, locality=locality), ISSUING_CA)
    store.save()
    return issued
