"""Exchange between agencies: edXML packets, status codes and the delivery state machine.

The modules here are pure domain code (no database, no Celery, no Flask); import them by name:
``from docsign.exchange import edxml, statuses, agency_codes``.
"""
