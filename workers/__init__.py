"""Celery app and tasks: thin shells over docsign's domain functions."""
