"""Signed PDFs for the verification tests, built once per session against the HTTP test PKI."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from docsign.pki.trust import REVOCATION_CACHE
from tests.unit.verification.pdfs import Kit, text_pdf


@pytest.fixture(scope="session")
def kit(test_pki) -> Kit:  # type: ignore[no-untyped-def]
    return Kit(test_pki.store, test_pki.url, test_pki.tsa_url)


@pytest.fixture(scope="session")
def docs(kit: Kit) -> SimpleNamespace:
    """One signed document per case; ``docs.plain`` is unsigned."""
    base = text_pdf(1)
    alice = kit.signer("alice", common_name="Nguyen Van A", organization="UBND tinh Hoa Binh")
    bob = kit.signer("bob", common_name="Tran Thi B", organization="So Thong tin va Truyen thong")
    ns = SimpleNamespace(plain=base)
    for level in ("B-B", "B-T", "B-LT", "B-LTA"):
        setattr(ns, level.replace("-", "_").lower(), kit.sign(base, alice, level=level))
    ns.two = kit.sign(kit.sign(base, alice, level="B-LT", field_name="Approve"), bob, level="B-LT",
                      field_name="Issue")
    ns.certified_p1 = kit.sign(base, alice, level="B-LT", certify=True, docmdp=_perm("NO_CHANGES"))
    ns.pkcs7 = kit.sign(base, alice, level="B-B", subfilter=_adbe())
    return ns


def _perm(name: str):  # type: ignore[no-untyped-def]
    from pyhanko.sign.fields import MDPPerm

    return MDPPerm[name]


def _adbe():  # type: ignore[no-untyped-def]
    from pyhanko.sign.fields import SigSeedSubFilter

    return SigSeedSubFilter.ADOBE_PKCS7_DETACHED


@pytest.fixture
def no_revocation_cache():  # type: ignore[no-untyped-def]
    """Offline verdicts must not depend on what earlier tests fetched."""
    REVOCATION_CACHE.clear()
    yield
    REVOCATION_CACHE.clear()
