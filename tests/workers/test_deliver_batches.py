"""The deliveries the relay sends together are filed in one transaction; when one of them fails, nothing
of that transaction is kept and each is filed again alone, so only the failing one fails and the arrivals
register keeps numbering without a gap."""

from __future__ import annotations

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from docsign.db import session_scope
from docsign.exchange import service as svc
from docsign.models import ArrivalEntry, Delivery, Document
from tests.support.documents import sealed_pdf

PROVINCE, LAC_SON = "000.00.00.H30", "000.00.35.H30"


def _send(settings, pdfs) -> list[int]:  # type: ignore[no-untyped-def]
    ids = []
    for n, pdf in enumerate(pdfs):
        request = svc.SendRequest(sender_code=PROVINCE, recipient_codes=(LAC_SON,), subject=f"Văn bản {n}")
        with session_scope(settings.database_url) as s:
            ids += [d.id for d in svc.send(s, settings, request, pdf, actor="test").deliveries]
    return ids


def _arrival_numbers(settings, ids) -> list[int | None]:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        return [s.scalar(select(ArrivalEntry.number).join(Document, ArrivalEntry.document_id == Document.id)
                         .where(Document.received_via_delivery_id == i)) for i in ids]


def test_a_burst_is_filed_in_one_transaction_and_a_failing_delivery_fails_alone(demo_online, tmp_path, monkeypatch):
    from workers.app import celery_app
    from workers.tasks import deliver

    monkeypatch.setitem(celery_app.conf, "docsign_settings", demo_online)
    pdfs = [sealed_pdf(demo_online, PROVINCE, tmp_path / "docs", number=f"{n:02d}", seal_only=True).read_bytes()
            for n in range(1, 6)]
    ids = _send(demo_online, pdfs)
    commits: list[int] = []

    def count(session: Session) -> None:
        commits.append(1)

    event.listen(Session, "after_commit", count)
    try:
        assert deliver.run(delivery_ids=ids[:3]) == 3
        together = len(commits)
        # One that cannot be done (it does not exist) among two good ones: the batch is undone, then the
        # good ones are filed one by one.
        assert deliver.run(delivery_ids=[ids[3], 10_000_000, ids[4]]) == 2
    finally:
        event.remove(Session, "after_commit", count)
    assert together == 1
    assert len(commits) - together == 3  # each item alone: two filed, and the missing one's give-up
    with session_scope(demo_online.database_url) as s:
        assert [s.get(Delivery, i).state for i in ids] == ["delivered"] * 5
    assert _arrival_numbers(demo_online, ids) == [1, 2, 3, 4, 5]  # the undone batch used no number
