"""Demo errands: 李娜 may run errands for 张伟; 张伟 holds an approved
temporary filing for Shanghai and an approved hypertension application, and
has a long-term filing for Shenzhen and a diabetes application waiting for
review (so the staff queue shows both kinds). Idempotent."""

from __future__ import annotations

import datetime as dt
import hashlib

from django.utils import timezone

from family.demo import DEMO_PDF
from family.models import FamilyLink
from members import demo as members_demo
from members.models import User
from portal import private_files

from . import policy_data
from .models import (
    ChronicApplication,
    ChronicDisease,
    CrossRegionFiling,
    ErrandStatus,
    FilingDocumentKind,
    FilingKind,
)


def _document(key: str) -> dict:
    name = hashlib.sha256(f"errands-demo-{key}".encode()).hexdigest()[:48]
    path = private_files.folder("errands") / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_bytes(DEMO_PDF)
    return {
        "document_name": name,
        "document_type": "application/pdf",
        "document_size": len(DEMO_PDF),
        "document_sha256": hashlib.sha256(DEMO_PDF).hexdigest(),
    }


def seed() -> None:
    policy_data.load_current()
    member = members_demo.person("zhangwei")
    lina = members_demo.person("lina")
    FamilyLink.objects.filter(member=member, relative=lina).update(scope_errands=True)
    if CrossRegionFiling.objects.filter(person=member).exists():
        return
    reviewer = User.objects.filter(username="staff").first()
    now = timezone.now()
    today = timezone.localdate()
    reviewed = {"reviewed_by": reviewer, "reviewed_at": now}
    CrossRegionFiling.objects.create(
        person=member,
        submitted_by=member.user,
        kind=FilingKind.TEMPORARY,
        destination="310100",
        start_date=today - dt.timedelta(days=3),
        end_date=today + dt.timedelta(days=60),
        status=ErrandStatus.APPROVED,
        **reviewed,
    )
    CrossRegionFiling.objects.create(
        person=member,
        submitted_by=lina.user,
        kind=FilingKind.LONG_TERM,
        destination="440300",
        start_date=today,
        document_kind=FilingDocumentKind.COMMITMENT_LETTER,
        **_document("filing"),
    )
    htn, dm = ChronicDisease.objects.get(code="HTN"), ChronicDisease.objects.get(code="DM")
    ChronicApplication.objects.create(
        person=member,
        submitted_by=member.user,
        disease=htn,
        status=ErrandStatus.APPROVED,
        valid_from=today - dt.timedelta(days=30),
        valid_until=today + dt.timedelta(days=700),
        **reviewed,
        **_document("htn"),
    )
    ChronicApplication.objects.create(
        person=member, submitted_by=member.user, disease=dm, **_document("dm")
    )
