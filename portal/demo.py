"""Demonstration data for a laptop: staff accounts of every role, cases in every state.

`flask --app app seed demo` calls `seed_demo`. Every case is made the way a real one
is: submitted with `lifecycle.submit`, then moved by the lifecycle's own transitions,
each by the staff member or reporter who may make it, so the event chains, deadlines,
assignments and outbox are what the portal would have written itself.

Running it again adds nothing: accounts are found by email, and the demo cases by
their submission token (`demo-…`). The demo is refused in production by the command.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import lifecycle
from portal.accounts import create_user
from portal.auth import totp
from portal.deadlines import WorkingCalendar, today
from portal.lifecycle import Actor, NewReport
from portal.models import Agency, Case, User
from portal.seed import seed_agencies
from portal.vocab import (
    CaseStatus,
    Conduct,
    Outcome,
    RejectReason,
    ReporterKind,
    Role,
    Sector,
)

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - published on purpose; development only
# The second step of the demo supervisor and administrator, who cannot sign in without one:
# published too, so a developer adds it to an authenticator app once (or asks
# `python -m portal.auth.totp` for the current code).
DEMO_TOTP_SECRET = "HANOIPORTALDEMOTOTPSECRETKEY2345"  # noqa: S105
DEMO_DOMAIN = "demo.phananh.local"
DEMO_KEY_PREFIX = "demo-"


@dataclass(frozen=True)
class DemoAccount:
    key: str
    email: str
    role: str
    org: str | None
    name: str


ACCOUNTS = (
    DemoAccount("city_moderator", f"moderator@{DEMO_DOMAIN}", Role.MODERATOR, "MTTQ-HN",
                "Nguyễn Thị Hồng Nhung"),
    DemoAccount("city_supervisor", f"supervisor@{DEMO_DOMAIN}", Role.SUPERVISOR, "MTTQ-HN",
                "Trần Quốc Bảo"),
    DemoAccount("ward_moderator", f"moderator.hoankiem@{DEMO_DOMAIN}", Role.MODERATOR, "MTTQ-00070",
                "Lê Thu Hà"),
    DemoAccount("xd_officer", f"officer.xd@{DEMO_DOMAIN}", Role.AGENCY_OFFICER, "SO-XD",
                "Phạm Minh Tuấn"),
    DemoAccount("xd_head", f"head.xd@{DEMO_DOMAIN}", Role.AGENCY_HEAD, "SO-XD", "Đỗ Văn Hùng"),
    DemoAccount("ward_officer", f"officer.hoankiem@{DEMO_DOMAIN}", Role.AGENCY_OFFICER, "UBND-00070",
                "Vũ Thị Lan"),
    DemoAccount("tc_officer", f"officer.tc@{DEMO_DOMAIN}", Role.AGENCY_OFFICER, "SO-TC",
                "Hoàng Đức Anh"),
    DemoAccount("admin", f"admin@{DEMO_DOMAIN}", Role.ADMIN, None, "Quản trị hệ thống"),
)

# One step of a case's history: (action, who acts, arguments). "reporter" is the case's
# reporter. Arguments naming other rows are resolved when the step runs:
# agency / to_agency (codes), officer (an account key), into (a demo case key),
# due_in_working_days (a supervisor's own deadline).
Step = tuple[str, str, dict[str, Any]]

SCORES_GOOD = {"access": 4, "procedure": 4, "attitude": 5, "result": 4, "handling": 4, "overall": 4}


@dataclass(frozen=True)
class DemoCase:
    key: str
    agency: str
    conduct: str
    sector: str
    description: str
    days_ago: int
    reporter_kind: str = ReporterKind.RESIDENT
    reporter_name: str | None = None
    reporter_email: str | None = None
    reporter_phone: str | None = None
    business_name: str | None = None
    tax_code: str | None = None
    ward_code: int | None = None
    address: str = ""
    confidential: bool = False
    publish_consent: bool = False
    steps: tuple[Step, ...] = ()
    # Print the tracking code, with a hint of what to try at /track.
    try_it: str | None = None


CASES = (
    DemoCase(
        key="permit-overdue", agency="SO-XD", conduct=Conduct.SLOW_HANDLING,
        sector=Sector.CONSTRUCTION, days_ago=40, ward_code=167,
        address="Ngõ 68 Cầu Giấy, Phường Cầu Giấy",
        reporter_name="Nguyễn Văn An", reporter_email="nguyen.van.an@example.com",
        reporter_phone="0912000101", publish_consent=True,
        description=(
            "Tôi nộp hồ sơ xin cấp giấy phép xây dựng nhà ở tại Bộ phận một cửa của Sở Xây dựng, "
            "giấy biên nhận hẹn trả kết quả sau 15 ngày làm việc. Đến nay đã quá hẹn hơn ba tuần. "
            "Tôi gọi điện ba lần đều được trả lời \"hồ sơ đang trình ký\", không ai cho biết hồ sơ "
            "vướng ở khâu nào và do ai xử lý. Gia đình đã ký hợp đồng với nhà thầu và đang phải "
            "chịu phạt vì chậm khởi công."
        ),
        steps=(
            ("forward", "city_moderator", {
                "agency": "SO-XD",
                "recommendation": "Đề nghị Sở Xây dựng kiểm tra tiến độ giải quyết hồ sơ, thông báo "
                                  "cho người dân lý do chậm và thời điểm trả kết quả; làm rõ trách "
                                  "nhiệm của bộ phận để hồ sơ quá hạn."}),
            ("acknowledge", "xd_officer", {}),
            ("assign_officer", "xd_head", {"officer": "xd_officer"}),
            ("request_extension", "xd_officer", {
                "working_days": 5,
                "reason": "Hồ sơ cần ý kiến của Sở Quy hoạch – Kiến trúc về chỉ giới xây dựng; "
                          "Sở đã có văn bản đề nghị và đang chờ trả lời."}),
        ),
        try_it="in progress at Sở Xây dựng, with an officer named and an extension",
    ),
    DemoCase(
        key="permit-overdue-again", agency="SO-XD", conduct=Conduct.SLOW_HANDLING,
        sector=Sector.CONSTRUCTION, days_ago=33, ward_code=167,
        address="Ngõ 68 Cầu Giấy, Phường Cầu Giấy",
        reporter_name="Nguyễn Văn An", reporter_email="nguyen.van.an@example.com",
        description=(
            "Tôi gửi lại phản ánh về hồ sơ cấp giấy phép xây dựng nhà ở đã quá hạn tại Sở Xây "
            "dựng vì chưa thấy ai liên hệ. Hồ sơ vẫn chưa có kết quả, cán bộ một cửa chỉ hẹn "
            "\"tuần sau quay lại\"."
        ),
        steps=(("merge", "city_moderator", {"into": "permit-overdue"}),),
    ),
    DemoCase(
        key="ward-back-and-forth", agency="UBND-00070", conduct=Conduct.BUCK_PASSING,
        sector=Sector.JUSTICE, days_ago=25, ward_code=70,
        address="Phố Hàng Bạc, Phường Hoàn Kiếm",
        reporter_name="Trần Thị Mai", reporter_phone="0983000202",
        description=(
            "Tôi cần giấy xác nhận tình trạng hôn nhân để làm thủ tục mua nhà. Bộ phận một cửa "
            "UBND phường Hoàn Kiếm bảo tôi phải lên Sở Tư pháp vì trước đây tôi từng cư trú ở tỉnh "
            "khác; Sở Tư pháp lại trả lời việc này thuộc thẩm quyền của phường. Trong ba tuần tôi "
            "đã đi lại bốn lần giữa hai nơi, mỗi lần phải nghỉ nửa ngày làm, mà không nơi nào nhận "
            "hồ sơ."
        ),
        steps=(
            ("forward", "ward_moderator", {
                "agency": "UBND-00070",
                "recommendation": "Đề nghị UBND phường tiếp nhận và giải quyết hồ sơ theo thẩm quyền, "
                                  "không yêu cầu người dân đi lại nhiều lần; nếu cần xác minh nơi cư "
                                  "trú trước đây thì phường chủ động gửi văn bản xác minh."}),
            ("acknowledge", "ward_officer", {}),
            ("request_transfer", "ward_officer", {
                "to_agency": "SO-TP",
                "reason": "Người dân từng đăng ký kết hôn tại tỉnh khác; việc xác minh thông tin hộ "
                          "tịch liên tỉnh cần Sở Tư pháp thực hiện."}),
        ),
    ),
    DemoCase(
        key="investment-certificate", agency="SO-TC", conduct=Conduct.SLOW_HANDLING,
        sector=Sector.INVESTMENT, days_ago=65, ward_code=8974,
        address="Cụm công nghiệp Quang Minh, Xã Quang Minh",
        reporter_kind=ReporterKind.BUSINESS, reporter_name="Ngô Thanh Tùng",
        reporter_email="giamdoc@thucphamthanglong.example.com", reporter_phone="02438000303",
        business_name="Công ty TNHH Thực phẩm Sạch Thăng Long", tax_code="0109283746",
        publish_consent=True,
        description=(
            "Công ty nộp hồ sơ điều chỉnh Giấy chứng nhận đăng ký đầu tư cho dự án xưởng chế biến "
            "thực phẩm tại Cụm công nghiệp Quang Minh từ hơn hai tháng trước. Đã quá thời hạn giải "
            "quyết nhưng Sở chưa có văn bản trả lời; mỗi lần liên hệ, công ty lại được yêu cầu bổ "
            "sung một loại giấy tờ mới mà lần trước không nêu. Dự án phải lùi ngày vận hành, ảnh "
            "hưởng đến hợp đồng đã ký với đối tác."
        ),
        steps=(
            ("forward", "city_moderator", {
                "agency": "SO-TC",
                "recommendation": "Đề nghị Sở Tài chính giải quyết dứt điểm hồ sơ, chỉ yêu cầu bổ sung "
                                  "một lần bằng văn bản theo quy định, và làm rõ trách nhiệm của cán bộ "
                                  "thụ lý trong việc để hồ sơ quá hạn."}),
            ("acknowledge", "tc_officer", {}),
            ("answer", "tc_officer", {
                "findings": "Hồ sơ được tiếp nhận đúng hạn nhưng phòng chuyên môn đã ba lần yêu cầu "
                            "bổ sung bằng điện thoại, không bằng văn bản, trái quy định chỉ yêu cầu bổ "
                            "sung một lần. Phản ánh của doanh nghiệp là đúng.",
                "outcome": Outcome.SUBSTANTIATED,
                "actions_taken": "Sở đã cấp Giấy chứng nhận đăng ký đầu tư điều chỉnh; công chức thụ "
                                 "lý và trưởng phòng đã kiểm điểm, rút kinh nghiệm trước cơ quan.",
                "reply_to_recommendation": "Tiếp thu kiến nghị của Mặt trận; từ nay mọi yêu cầu bổ "
                                           "sung hồ sơ được gửi bằng văn bản qua hệ thống một cửa."}),
        ),
    ),
    DemoCase(
        key="land-harassment", agency="UBND-00070", conduct=Conduct.HARASSMENT,
        sector=Sector.LAND, days_ago=12, ward_code=70, confidential=True,
        reporter_name="Phạm Quang Huy", reporter_phone="0904000404",
        description=(
            "Tôi là Phạm Quang Huy, chủ hộ số 15 ngõ Hàng Hương, điện thoại 0904000404. Khi tôi "
            "làm thủ tục xác nhận nguồn gốc đất để xin cấp giấy chứng nhận, cán bộ địa chính phường "
            "nói hồ sơ \"còn thiếu\" nhưng không ghi phiếu hướng dẫn, rồi gợi ý nếu \"bồi dưỡng\" "
            "5 triệu đồng thì sẽ xong trong tuần. Tôi đề nghị giữ bí mật danh tính vì còn nhiều thủ "
            "tục phải làm tại phường."
        ),
        steps=(
            ("redact", "ward_moderator", {
                "redacted_text": "Tôi là [đã ẩn], chủ hộ [đã ẩn], điện thoại [đã ẩn]. Khi tôi làm thủ "
                                 "tục xác nhận nguồn gốc đất để xin cấp giấy chứng nhận, cán bộ địa "
                                 "chính phường nói hồ sơ \"còn thiếu\" nhưng không ghi phiếu hướng "
                                 "dẫn, rồi gợi ý nếu \"bồi dưỡng\" 5 triệu đồng thì sẽ xong trong "
                                 "tuần."}),
            ("forward", "ward_moderator", {
                "agency": "UBND-00070",
                "recommendation": "Đề nghị Chủ tịch UBND phường trực tiếp kiểm tra, làm rõ hành vi gây "
                                  "phiền hà, sách nhiễu của cán bộ địa chính; bảo đảm bí mật danh tính "
                                  "người phản ánh."}),
        ),
    ),
    DemoCase(
        key="school-fees", agency="SO-GDDT", conduct=Conduct.SHIRKING,
        sector=Sector.EDUCATION, days_ago=30, ward_code=9556,
        address="Phường Hà Đông", reporter_kind=ReporterKind.ORGANISATION,
        reporter_name="Ban đại diện cha mẹ học sinh lớp 7A",
        reporter_email="bandaidien7a@example.com",
        description=(
            "Đầu năm học, nhà trường thu nhiều khoản \"tự nguyện\" ngoài danh mục được phép (quỹ "
            "xây dựng, tiền máy chiếu, tiền trang trí lớp). Ban đại diện đã gửi đơn đến Sở Giáo "
            "dục và Đào tạo từ đầu năm học nhưng đến nay chưa nhận được trả lời, cũng không biết "
            "đơn đang do phòng nào xử lý."
        ),
        steps=(
            ("forward", "city_supervisor", {
                "agency": "SO-GDDT", "due_in_working_days": 5,
                "recommendation": "Đề nghị Sở Giáo dục và Đào tạo kiểm tra các khoản thu đầu năm học, "
                                  "trả lời đơn của Ban đại diện cha mẹ học sinh; vụ việc liên quan "
                                  "nhiều phụ huynh nên Mặt trận đề nghị trả lời trong 5 ngày làm việc."}),
        ),
    ),
    DemoCase(
        key="health-attitude", agency="SO-YT", conduct=Conduct.ATTITUDE,
        sector=Sector.HEALTH, days_ago=8, reporter_name="Lê Minh Châu",
        reporter_email="le.minh.chau@example.com",
        description=(
            "Khi tôi nộp hồ sơ cấp chứng chỉ hành nghề, cán bộ tiếp nhận trả lại hồ sơ mà không "
            "giải thích thiếu gì, còn nói to tiếng trước nhiều người đang chờ. Tôi hỏi tên thì "
            "cán bộ không trả lời."
        ),
        steps=(
            ("ask_info", "city_moderator", {
                "question": "Xin anh/chị cho biết ngày đến nộp hồ sơ, số giấy biên nhận (nếu có) và "
                            "địa điểm tiếp nhận cụ thể, để Mặt trận chuyển đúng đơn vị."}),
        ),
        try_it="the Front asked a question: answer it",
    ),
    DemoCase(
        key="boundary-in-court", agency="UBND-00148", conduct=Conduct.OTHER,
        sector=Sector.LAND, days_ago=20, ward_code=148, address="Phường Long Biên",
        reporter_name="Đặng Văn Thành", reporter_phone="0976000505",
        description=(
            "Hộ liền kề xây tường lấn sang đất nhà tôi khoảng 30 cm. Tôi đã khởi kiện và Tòa án "
            "nhân dân khu vực đã thụ lý vụ án, nhưng tôi muốn phường buộc họ phá dỡ ngay."
        ),
        steps=(
            ("reject", "city_moderator", {
                "reason": RejectReason.ALREADY_IN_COURT,
                "note": "Tranh chấp đang được Tòa án thụ lý; Mặt trận không xem xét song song. Ông "
                        "có thể theo dõi kết quả giải quyết tại Tòa án."}),
        ),
    ),
    DemoCase(
        key="land-split-stalled", agency="UBND-00376", conduct=Conduct.SHIRKING,
        sector=Sector.LAND, days_ago=90, ward_code=376, address="Xã Sóc Sơn",
        confidential=True, reporter_name="Bùi Thị Hạnh", reporter_phone="0868000606",
        description=(
            "Gia đình tôi nộp hồ sơ tách thửa để tặng cho con tại UBND xã từ ba tháng trước. "
            "Cán bộ cứ hẹn \"tuần sau quay lại\" mà không ra phiếu hướng dẫn bổ sung, cũng không "
            "trả lại hồ sơ. Tôi đề nghị giữ bí mật danh tính vì sợ bị gây khó dễ."
        ),
    ),
    DemoCase(
        key="pumping-station", agency="SO-NNMT", conduct=Conduct.OVERLAP,
        sector=Sector.ENVIRONMENT, days_ago=15, ward_code=454, address="Xã Đông Anh",
        reporter_kind=ReporterKind.ORGANISATION,
        reporter_name="Hợp tác xã Nông nghiệp Đông Anh", reporter_phone="02439000707",
        description=(
            "Trạm bơm tiêu úng của thôn bị hỏng từ đầu mùa mưa, ruộng lúa ngập. Sở Nông nghiệp và "
            "Môi trường trả lời trạm bơm thuộc xã quản lý; UBND xã trả lời trạm do công ty thủy "
            "lợi của Sở vận hành. Không ai sửa chữa."
        ),
    ),
    DemoCase(
        key="illegal-floors", agency="SO-XD", conduct=Conduct.SHIRKING,
        sector=Sector.CONSTRUCTION, days_ago=45, ward_code=187, address="Phố Láng Hạ, Phường Láng",
        reporter_name="Vũ Hoài Nam", reporter_email="vu.hoai.nam@example.com", publish_consent=True,
        description=(
            "Công trình bên cạnh nhà tôi được cấp phép 5 tầng nhưng đang xây tầng thứ 7, thi công "
            "cả ban đêm. Tôi đã báo Sở Xây dựng hai lần, cán bộ nói \"đã ghi nhận\" nhưng không ai "
            "đến kiểm tra."
        ),
        steps=(
            ("forward", "city_moderator", {
                "agency": "SO-XD",
                "recommendation": "Đề nghị Sở Xây dựng kiểm tra ngay công trình, xử lý vi phạm nếu có "
                                  "và làm rõ vì sao hai lần tin báo trước đó không được xử lý."}),
            ("acknowledge", "xd_officer", {}),
            ("answer", "xd_head", {
                "findings": "Đoàn kiểm tra của Sở đã lập biên bản: công trình xây vượt 2 tầng so với "
                            "giấy phép. Hai tin báo trước đó được ghi sổ nhưng không được chuyển cho "
                            "bộ phận kiểm tra.",
                "outcome": Outcome.SUBSTANTIATED,
                "actions_taken": "Đình chỉ thi công, xử phạt vi phạm hành chính và buộc tháo dỡ phần "
                                 "vượt phép; kiểm điểm cán bộ tiếp nhận tin báo.",
                "reply_to_recommendation": "Sở đã lập sổ theo dõi tin báo, mỗi tin báo có người chịu "
                                           "trách nhiệm và hạn xử lý."}),
            ("accept_answer", "city_supervisor", {
                "assessment": "Sở đã kiểm tra, xử lý vi phạm và làm rõ trách nhiệm cán bộ; trả lời đầy "
                              "đủ kiến nghị của Mặt trận."}),
        ),
        try_it="answer accepted: rate it or dispute it",
    ),
    DemoCase(
        key="broken-drain", agency="UBND-00070", conduct=Conduct.OMISSION,
        sector=Sector.ENVIRONMENT, days_ago=50, ward_code=70, address="Ngõ Gạch, Phường Hoàn Kiếm",
        reporter_name="Hoàng Thị Thu", reporter_email="hoang.thi.thu@example.com",
        description=(
            "Cống thoát nước trong ngõ bị vỡ, nước thải tràn ra lối đi hơn một tháng. Phường bảo "
            "liên hệ công ty thoát nước, công ty lại bảo cống trong ngõ do phường quản lý. Không "
            "ai nhận trách nhiệm sửa."
        ),
        steps=(
            ("forward", "ward_moderator", {
                "agency": "UBND-00070",
                "recommendation": "Đề nghị UBND phường xác định đơn vị quản lý cống, khắc phục sự cố "
                                  "và thông báo kết quả cho người dân."}),
            ("acknowledge", "ward_officer", {}),
            ("answer", "ward_officer", {
                "findings": "Cống trong ngõ thuộc phường quản lý. Phường đã phối hợp công ty thoát "
                            "nước khơi thông tạm thời; việc thay đoạn cống vỡ cần kinh phí sửa chữa.",
                "outcome": Outcome.PARTLY,
                "actions_taken": "Đã khơi thông; đưa việc thay cống vào kế hoạch sửa chữa quý tới."}),
            ("accept_answer", "ward_moderator", {
                "assessment": "Phường đã xác định trách nhiệm quản lý và có biện pháp tạm thời; Mặt "
                              "trận sẽ giám sát việc thay cống."}),
            ("dispute", "reporter", {
                "reason": "Cống chỉ thông được hai ngày; sau trận mưa cuối tuần nước thải lại tràn ra "
                          "ngõ. Đề nghị thay cống ngay, không chờ đến quý sau."}),
        ),
    ),
    DemoCase(
        key="elderly-allowance", agency="UBND-00070", conduct=Conduct.SLOW_HANDLING,
        sector=Sector.SOCIAL_WELFARE, days_ago=70, ward_code=70, address="Phố Hàng Buồm, Phường Hoàn Kiếm",
        reporter_name="Đinh Văn Lộc", reporter_email="dinh.van.loc@example.com", publish_consent=True,
        description=(
            "Hồ sơ đề nghị hưởng trợ cấp xã hội cho mẹ tôi (84 tuổi) nộp tại phường đã hai tháng "
            "mà chưa có quyết định, dù quy định chỉ vài ngày làm việc. Mỗi lần hỏi đều được bảo "
            "\"đang chờ danh sách\"."
        ),
        steps=(
            ("forward", "ward_moderator", {
                "agency": "UBND-00070",
                "recommendation": "Đề nghị UBND phường giải quyết ngay hồ sơ trợ cấp và truy lĩnh trợ "
                                  "cấp cho thời gian chậm."}),
            ("acknowledge", "ward_officer", {}),
            ("answer", "ward_officer", {
                "findings": "Hồ sơ bị để quá hạn do cán bộ phụ trách nghỉ phép không bàn giao.",
                "outcome": Outcome.SUBSTANTIATED,
                "actions_taken": "Đã ban hành quyết định hưởng trợ cấp, truy lĩnh từ tháng nộp hồ sơ; "
                                 "yêu cầu bàn giao hồ sơ khi cán bộ vắng mặt."}),
            ("accept_answer", "ward_moderator", {
                "assessment": "Phường đã giải quyết và truy lĩnh đầy đủ cho người dân."}),
            ("rate", "reporter", {
                "scores": SCORES_GOOD,
                "comment": "Phường xử lý nhanh sau khi Mặt trận chuyển đơn. Cảm ơn."}),
        ),
    ),
    DemoCase(
        key="feasibility-review", agency="SO-XD", conduct=Conduct.BUCK_PASSING,
        sector=Sector.CONSTRUCTION, days_ago=35, ward_code=9552, address="Phường Kiến Hưng",
        reporter_kind=ReporterKind.BUSINESS, reporter_name="Lương Thị Ngọc",
        reporter_email="phaply@xaylaphongha.example.com",
        business_name="Công ty Cổ phần Xây lắp Hồng Hà", tax_code="0102457981",
        description=(
            "Công ty nộp hồ sơ thẩm định báo cáo nghiên cứu khả thi dự án nhà ở tại Sở Xây dựng. "
            "Sau một tháng, Sở trả lời miệng rằng nội dung quy hoạch phải hỏi Sở Quy hoạch – Kiến "
            "trúc; Sở Quy hoạch – Kiến trúc nói không nhận hồ sơ thẩm định."
        ),
        steps=(
            ("forward", "city_moderator", {
                "agency": "SO-XD",
                "recommendation": "Đề nghị Sở Xây dựng thẩm định hồ sơ theo thẩm quyền; việc lấy ý "
                                  "kiến cơ quan khác là trách nhiệm của Sở, không chuyển cho doanh nghiệp."}),
            ("acknowledge", "xd_officer", {}),
            ("request_transfer", "xd_officer", {
                "to_agency": "SO-QHKT",
                "reason": "Nội dung vướng mắc là chỉ tiêu quy hoạch chi tiết, thuộc Sở Quy hoạch – "
                          "Kiến trúc."}),
            ("refuse_transfer", "city_supervisor", {
                "note": "Thẩm định báo cáo nghiên cứu khả thi thuộc thẩm quyền Sở Xây dựng; Sở chủ "
                        "động lấy ý kiến Sở Quy hoạch – Kiến trúc, không chuyển hồ sơ."}),
        ),
    ),
)


def _ensure_accounts(session: Session) -> tuple[dict[str, User], list[str]]:
    users: dict[str, User] = {}
    lines = [f"demo accounts (password: {DEMO_PASSWORD}):"]
    for account in ACCOUNTS:
        user = session.scalar(select(User).where(func.lower(User.email) == account.email))
        if user is None:
            user = create_user(session, account.email, account.role, DEMO_PASSWORD,
                               account.org, account.name)
            session.flush()
            state = "created"
            if totp.is_required(user):
                totp.enable(user, totp.from_base32(DEMO_TOTP_SECRET))
                state = "created, second step with the demo key"
        else:
            org = (user.front_committee.code if user.front_committee
                   else user.agency.code if user.agency else None)
            if user.role != account.role or org != account.org:
                raise click.ClickException(
                    f"{account.email} exists as {user.role} of {org or 'no organisation'}, not as "
                    f"{account.role} of {account.org or 'no organisation'}; remove it or leave "
                    "the demo alone")
            state = "already exists, skipped (password unchanged)"
        users[account.key] = user
        lines.append(f"  {account.email:<40} {account.role:<15} {account.org or '-':<11} {state}")
    lines.append(f"second sign-in step of the demo supervisor and administrator: the key "
                 f"{totp.grouped(DEMO_TOTP_SECRET)} in an authenticator app (time-based, 6 digits),")
    lines.append(f"  or the current code from: .venv/bin/python -m portal.auth.totp {DEMO_TOTP_SECRET}")
    lines.append("  (an account that existed before without a second step is asked to set one up)")
    return users, lines


def _agency_id(session: Session, code: str) -> int:
    return session.scalars(select(Agency.id).where(Agency.code == code)).one()


def _run_step(session: Session, case: Case, step: Step, users: dict[str, User],
              made: dict[str, Case]) -> None:
    action, who, params = step
    actor = Actor.reporter(case.id) if who == "reporter" else Actor.staff(users[who])
    kwargs = dict(params)
    if "agency" in kwargs:
        kwargs["agency_id"] = _agency_id(session, kwargs.pop("agency"))
    if "to_agency" in kwargs:
        kwargs["to_agency_id"] = _agency_id(session, kwargs.pop("to_agency"))
    if "officer" in kwargs:
        kwargs["officer_id"] = users[kwargs.pop("officer")].id
    if "into" in kwargs:
        kwargs["into_case_id"] = made[kwargs.pop("into")].id
    if "due_in_working_days" in kwargs:
        kwargs["due_on"] = WorkingCalendar.load(session).add_working_days(
            today(), kwargs.pop("due_in_working_days"))
    lifecycle.ACTIONS[action](session, case, actor, **kwargs)
    session.flush()


def _create_case(session: Session, spec: DemoCase, users: dict[str, User],
                 made: dict[str, Case]) -> tuple[Case, str]:
    report = NewReport(
        agency_id=_agency_id(session, spec.agency), conduct=spec.conduct, sector=spec.sector,
        description=spec.description, reporter_kind=spec.reporter_kind,
        occurred_on=today() - timedelta(days=spec.days_ago), ward_code=spec.ward_code,
        address=spec.address, reporter_name=spec.reporter_name,
        reporter_email=spec.reporter_email, reporter_phone=spec.reporter_phone,
        business_name=spec.business_name, tax_code=spec.tax_code,
        confidential=spec.confidential, publish_consent=spec.publish_consent,
        submission_token=DEMO_KEY_PREFIX + spec.key,
    )
    case, code = lifecycle.submit(session, report)
    session.flush()
    for step in spec.steps:
        _run_step(session, case, step, users, made)
    return case, code


def _demo_cases(session: Session) -> list[Case]:
    return list(session.scalars(
        select(Case).where(Case.submission_token.like(DEMO_KEY_PREFIX + "%")).order_by(Case.id)))


def _state_lines(cases: list[Case]) -> list[str]:
    counts = Counter(case.status for case in cases)
    return [f"  {status:<19} {counts.get(status, 0)}" for status in CaseStatus]


def seed_demo(session: Session) -> list[str]:
    """Create the demo accounts and cases that do not exist yet; returns what a developer reads."""
    seed_agencies(session)
    users, lines = _ensure_accounts(session)

    existing = _demo_cases(session)
    if existing:
        lines.append(f"demo cases already exist ({len(existing)}): none added. Their tracking codes "
                     "were printed when they were created; only a hash is stored.")
        lines.append("demo cases per state:")
        lines.extend(_state_lines(existing))
        return lines

    made: dict[str, Case] = {}
    codes: list[tuple[str, Case, str]] = []
    for spec in CASES:
        case, code = _create_case(session, spec, users, made)
        made[spec.key] = case
        if spec.try_it:
            codes.append((code, case, spec.try_it))
    cases = list(made.values())
    confidential = sum(case.confidential for case in cases)
    lines.append(f"demo cases created: {len(cases)} ({confidential} confidential)")
    lines.append("demo cases per state:")
    lines.extend(_state_lines(cases))
    lines.append("tracking codes to try at /track (shown only now):")
    for code, case, hint in codes:
        lines.append(f"  {code}  {case.reference}  {case.status}: {hint}")
    return lines
