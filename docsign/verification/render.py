"""Reports for people: plain text for the terminal, and the view model the HTML page uses."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from docsign.i18n import N_
from docsign.verification.report import Indication, SignatureReport, VerificationReport

VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")

VERDICT_TEXT = {
    Indication.TOTAL_PASSED: N_("Chữ ký hợp lệ"),
    Indication.TOTAL_FAILED: N_("Chữ ký không hợp lệ"),
    Indication.INDETERMINATE: N_("Chưa xác định được"),
    Indication.NO_SIGNATURE: N_("Văn bản không có chữ ký số"),
}
COLOUR = {Indication.TOTAL_PASSED: "green", Indication.TOTAL_FAILED: "red", Indication.INDETERMINATE: "amber",
          Indication.NO_SIGNATURE: "amber"}


def local_time(moment: dt.datetime | None) -> str:
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(VN_TZ).strftime("%H:%M:%S %d/%m/%Y (+07:00)")


def to_json(report: VerificationReport) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2)


def to_text(report: VerificationReport) -> str:
    doc = report.document
    lines = [
        f"document: {doc.size} bytes, {doc.pages if doc.pages is not None else '?'} page(s), "
        f"{doc.revisions} revision(s), sha256 {doc.sha256}",
        f"verdict:  {report.indication.value}",
    ]
    for number, sig in enumerate(report.signatures, start=1):
        lines.append("")
        lines.extend(_signature_text(number, sig))
    if not report.signatures:
        lines.append("no signature found")
    return "\n".join(lines)


def _signature_text(number: int, sig: SignatureReport) -> list[str]:
    verdict = sig.indication.value + (f" / {sig.sub_indication}" if sig.sub_indication else "")
    signer = sig.signer
    lines = [f"signature {number}: field {sig.field!r}: {verdict}"]
    if signer:
        who = signer.common_name or signer.subject
        lines.append(f"  signer:        {who}" + (f" ({signer.organization})" if signer.organization else ""))
        lines.append(f"  issuer:        {signer.issuer}")
    lines.append(f"  signing time:  {local_time(sig.signing_time)} (claimed by the signer)")
    lines.append(f"  timestamp:     {local_time(sig.timestamp_time)}")
    lines.append(f"  level:         {sig.level.value if sig.level else '-'}")
    lines.append(f"  integrity:     {'intact' if sig.integrity else 'BROKEN'}; trusted chain: "
                 f"{'yes' if sig.trusted else 'no'}; revocation: {sig.revocation.value}")
    lines.append(f"  coverage:      {sig.coverage.value if sig.coverage else '-'}; changes after signing: "
                 f"{sig.modifications.value if sig.modifications else '-'}")
    lines.extend(f"  error:   {e}" for e in sig.errors)
    lines.extend(f"  warning: {w}" for w in sig.warnings)
    return lines


@dataclass(frozen=True)
class SignatureView:
    """What the page shows for one signature; ``verdict`` is a Vietnamese msgid the page translates."""

    report: SignatureReport
    colour: str
    verdict: str
    changed: bool | None


def signature_views(report: VerificationReport) -> list[SignatureView]:
    views = []
    for sig in report.signatures:
        changed = None if sig.modifications is None else sig.modifications.value not in ("NONE", "LTA_UPDATES")
        views.append(SignatureView(sig, COLOUR[sig.indication], VERDICT_TEXT[sig.indication], changed))
    return views
