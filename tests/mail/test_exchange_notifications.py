"""The exchange's notifications through real processes: `docsign relay` and `docsign worker` with the
mail server down. The document is delivered and its status comes back as if there were no e-mail at
all; the two signed notifications (to the recipient: arrived; to the sender: status 01 came back) are
retried with backoff and reach the mail server once it is up, and verify with `openssl smime`."""

from __future__ import annotations

import dataclasses
import email
import os
import re
import subprocess
import sys
from email.policy import default as default_policy

import pytest
from sqlalchemy import select

from docsign.db import session_scope
from docsign.exchange import service as exchange_service
from docsign.models import Delivery, MailMessage, StatusEvent
from docsign.pki.demo import demo_dir
from tests.mail.test_signed_mail import openssl_verify
from tests.support.demo import online_demo
from tests.support.documents import sealed_pdf
from tests.support.exchange_rig import wait_until
from tests.support.pki_server import free_port
from tests.support.smtp import smtp_server

pytestmark = [pytest.mark.backend, pytest.mark.embedded_only]
PROVINCE, LAC_SON = "000.00.00.H30", "000.00.35.H30"


def _mails(settings) -> list[MailMessage]:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        rows = list(s.scalars(select(MailMessage).order_by(MailMessage.id)))
        s.expunge_all()
        return rows


def _exchange_done(settings, delivery_id: int) -> bool:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        delivery = s.get(Delivery, delivery_id)
        return delivery.state == "delivered" and any(
            e.code == "01" and e.received_at is not None for e in delivery.events)


def test_notifications_wait_for_the_mail_server_and_never_hold_up_the_exchange(backend, tmp_path, monkeypatch):
    port = free_port()
    with online_demo(tmp_path, backend) as online:
        settings = dataclasses.replace(online, smtp_url=f"smtp://127.0.0.1:{port}")
        pdf = sealed_pdf(settings, PROVINCE, tmp_path / "docs", seal_only=True).read_bytes()
        request = exchange_service.SendRequest(sender_code=PROVINCE, recipient_codes=(LAC_SON,),
                                               subject="Về việc thông báo lịch tiếp công dân")
        with session_scope(settings.database_url) as s:
            [delivery_id] = [d.id for d in exchange_service.send(s, settings, request, pdf, actor="test").deliveries]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSIGN_")}
        env.update({"DOCSIGN_DATA_DIR": str(settings.data_dir), "DOCSIGN_KEYS_DIR": str(settings.keys_dir),
                    "DOCSIGN_DATABASE_URL": settings.database_url, "DOCSIGN_BROKER_URL": settings.broker_url,
                    "DOCSIGN_PUBLIC_URL": settings.public_url, "DOCSIGN_SMTP_URL": settings.smtp_url or ""})
        log = tmp_path / "processes.log"
        with open(log, "wb") as out:
            processes = [subprocess.Popen([sys.executable, "-m", "docsign", *argv], env=env, stdout=out,
                                          stderr=subprocess.STDOUT)
                         for argv in (["relay"], ["worker", "--all", "--concurrency", "1"])]
        try:
            # The mail server is down: the exchange runs its course all the same.
            wait_until(lambda: _exchange_done(settings, delivery_id), 120, "delivery and its 01 status", 0.5)
            wait_until(lambda: "mail.send" in log.read_text(errors="replace")
                       and "Retry in" in log.read_text(errors="replace"), 60, "a mail task retried", 0.5)
            mails = _mails(settings)
            assert [(m.kind, m.recipients, m.sent_at) for m in mails] == [
                ("arrived", "vanthu.lacson@docsign-demo.example.org", None),
                ("status", "vanthu.tinh@docsign-demo.example.org", None)]
            with session_scope(settings.database_url) as s:
                assert [e.code for e in s.get(Delivery, delivery_id).events if e.code] == ["01"]
            # The mail server comes back: both messages go out, once each.
            with smtp_server(port) as mailbox:
                wait_until(lambda: all(m.sent_at for m in _mails(settings)), 120, "both notifications sent", 0.5)
                wait_until(lambda: len(mailbox.snapshot()) == 2, 10, "both received")
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
    # /metrics counts what the worker sent and the attempts that failed while the server was down
    from docsign import metrics

    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(settings.data_dir / "metrics"))
    scraped = metrics.render(settings.database_url, settings).decode()
    assert 'docsign_mails_total{outcome="sent"} 2.0' in scraped, scraped
    failed = re.search(r'docsign_mails_total\{outcome="failed"\} (\d+)', scraped)
    assert failed and int(failed.group(1)) >= 1, scraped
    received = {r.rcpt_tos[0]: r for r in mailbox.snapshot()}
    assert set(received) == {"vanthu.lacson@docsign-demo.example.org", "vanthu.tinh@docsign-demo.example.org"}
    arrived = received["vanthu.lacson@docsign-demo.example.org"]
    assert arrived.mail_from == "vanthu.lacson@docsign-demo.example.org"  # signed by Lạc Sơn's own seal
    for message in received.values():
        result = openssl_verify(message.data, demo_dir(settings) / "root.crt", tmp_path)
        assert result.returncode == 0 and "Verification successful" in result.stderr, result.stderr
    text = (tmp_path / "content.txt").read_bytes()
    parsed = email.message_from_bytes(arrived.data, policy=default_policy)
    assert "Văn bản đến" in str(parsed["Subject"]) and "lịch tiếp công dân" in str(parsed["Subject"])
    assert text  # the last verified content was written out by openssl
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(StatusEvent.id).where(StatusEvent.code == "02")) is None
