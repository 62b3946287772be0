import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from docsign.db import session_scope
from docsign.demo import AGENCIES, seed_demo
from docsign.models import Agency, KeyKind, KeyRef, User

pytestmark = pytest.mark.backend


def test_demo_seed_is_complete_and_idempotent(demo):
    with session_scope(demo.database_url) as s:
        counts = (s.scalar(select(func.count(Agency.id))), s.scalar(select(func.count(User.id))),
                  s.scalar(select(func.count(KeyRef.id))))
        assert counts == (4, 13, 8)
        seed_demo(s, demo)
    with session_scope(demo.database_url) as s:
        assert (s.scalar(select(func.count(Agency.id))), s.scalar(select(func.count(User.id))),
                s.scalar(select(func.count(KeyRef.id)))) == counts


def test_demo_seal_certificates_belong_to_their_agency(demo):
    with session_scope(demo.database_url) as s:
        seals = s.scalars(select(KeyRef).where(KeyRef.kind == KeyKind.SEAL)).all()
        assert {k.agency.code for k in seals} == {a.code for a in AGENCIES}
        for key in seals:
            cert = x509.load_der_x509_certificate(key.certificate_der)
            org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
            assert org == key.agency.name
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
            assert usage.digital_signature and usage.content_commitment
            p12 = pkcs12.load_key_and_certificates((demo.keys_dir / key.location).read_bytes(),
                                                   demo.keystore_passphrase)
            assert p12[1] == cert
            with pytest.raises(ValueError):
                pkcs12.load_key_and_certificates((demo.keys_dir / key.location).read_bytes(), b"wrong")
