"""Documents of an agency: upload, sign with registered keys (approve, issue), send, and the
agency-scoped lists of drafts, inbox and sent documents. Domain code: no web framework.

Use :mod:`docsign.documents.service` (``from docsign.documents import service as document_service``).
"""
