"""PAdES signing with Decree 30 roles: domain code, no web framework.

Use :func:`docsign.signing.service.sign_pdf` with a key from :func:`docsign.pki.keys.load_key` and a
:class:`docsign.signing.request.SignRequest`.
"""
