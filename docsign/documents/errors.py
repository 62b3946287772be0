"""Errors of the documents domain."""

from __future__ import annotations

from docsign.errors import Conflict, DocsignError


class SigningRefused(DocsignError):
    """The signing engine or the key refused (wrong or missing key, damaged PDF, TSA down...).

    It carries the engine's error as ``cause`` and takes its status and retry flag, except that a
    missing key is a request that cannot be done (400), not a missing page (404). Nothing was written.
    """

    code = "signing_refused"
    title = "The document could not be signed"

    def __init__(self, cause: DocsignError) -> None:
        self.cause = cause
        self.http_status = 400 if cause.http_status == 404 else cause.http_status
        self.retryable = cause.retryable
        self.exit_code = cause.exit_code
        super().__init__(cause.message)


class WrongStage(Conflict):
    """The document is not at the step the action needs (approve a sent document, send a draft...)."""

    code = "wrong_stage"
    title = "The document is not at this step"
