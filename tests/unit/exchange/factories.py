"""Sample packets for the exchange tests: one provincial committee writing to its departments."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from docsign.exchange.edxml import (
    Attachment,
    Business,
    Code,
    DocumentPacket,
    DocumentType,
    MessageHeader,
    Organization,
    OtherInfo,
    PromulgationInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusPacket,
    TraceHeader,
    TraceHeaderList,
    make_document_id,
)
from docsign.exchange.statuses import StatusCode

PROVINCE = "000.00.00.H30"
DEPARTMENT = "000.00.01.H30"
DISTRICT = "000.00.12.H30"
ISSUED = date(2024, 3, 12)
# Every byte value, so that the base64 round trip is really tested.
PDF_BYTES = b"%PDF-1.7\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"

SENDER = Organization(
    organ_id=PROVINCE,
    organ_name="Ủy ban nhân dân tỉnh Hòa Bình",
    organization_in_charge="Chính phủ",
    organ_add="Đường Trần Hưng Đạo, phường Phương Lâm, thành phố Hòa Bình",
    email="ubnd@hoabinh.gov.vn",
    telephone="0218 3852 451",
    fax="0218 3852 452",
    website="https://hoabinh.gov.vn",
)


def sample_packet(**header_changes: object) -> DocumentPacket:
    header = MessageHeader(
        from_=SENDER,
        to=(
            Organization(DEPARTMENT, "Sở Thông tin và Truyền thông", "UBND tỉnh Hòa Bình"),
            Organization(DISTRICT, "UBND huyện Lạc Sơn", "UBND tỉnh Hòa Bình"),
        ),
        document_id=make_document_id(PROVINCE, ISSUED, "05", "UBND-VP"),
        code=Code("05", "UBND-VP"),
        promulgation_info=PromulgationInfo("Hòa Bình", ISSUED),
        document_type=DocumentType(2, "Công văn"),
        subject="V/v triển khai chữ ký số chuyên dùng công vụ trong cơ quan nhà nước",
        content="Đề nghị các đơn vị khẩn trương thực hiện.",
        signer_info=SignerInfo("KT. CHỦ TỊCH", "Phó Chủ tịch", "Nguyễn Văn Đức"),
        due_date=date(2024, 3, 30),
        to_places=("Như trên;", "Lưu: VT, KSTT."),
        other_info=OtherInfo(1, "Các cơ quan nhà nước", "NVĐ", 3, 2, ("Phụ lục I: Danh sách đơn vị",)),
        steering_type=1,
        response_for=(
            ResponseFor("000.00.00.G22", "7816/VPCP-TTĐT", date(2024, 2, 1), "000.00.00.G22,2024/02/01,7816/VPCP-TTĐT"),
        ),
    )
    header = replace(header, **header_changes)  # type: ignore[arg-type]
    return DocumentPacket(
        message_header=header,
        trace_header_list=TraceHeaderList(
            (TraceHeader(PROVINCE, datetime(2024, 3, 12, 2, 15, 30, tzinfo=UTC)),),
            Business(
                0,
                "Văn bản điện tử mới",
                "",
                0,
                StaffInfo("Văn phòng", "Trần Thị Hà", "0912345678", "ha@hoabinh.gov.vn"),
            ),
        ),
        attachments=(
            Attachment(
                "6f1c2d0e-8a47-4b8e-9a43-6f7d1c0b9e21", "05-UBND-VP.pdf", "application/pdf", PDF_BYTES, "Văn bản"
            ),
            Attachment(
                "0b8e2f4a-3c1d-4e5f-8a9b-0c1d2e3f4a5b", "Phụ lục I.pdf", "application/pdf", b"%PDF-1.4 phu luc", ""
            ),
        ),
    )


def sample_status(code: StatusCode = StatusCode.ACCEPTED) -> StatusPacket:
    return StatusPacket(
        response_for=ResponseFor(PROVINCE, "05/UBND-VP", ISSUED, make_document_id(PROVINCE, ISSUED, "05", "UBND-VP")),
        from_=Organization(DEPARTMENT, "Sở Thông tin và Truyền thông", "UBND tỉnh Hòa Bình"),
        status_code=code,
        timestamp=datetime(2024, 3, 12, 9, 0, 5, tzinfo=UTC),
        description="Văn thư đã tiếp nhận văn bản đến số 118",
        staff_info=StaffInfo("Văn phòng Sở", "Lê Thị Mai", "0987654321", "mai@stttt.hoabinh.gov.vn"),
    )
