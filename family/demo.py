"""Demo family links for 张伟: his spouse 李娜 (all scopes, no cap), his father
张建国 (balance only) and his daughter 张小雨 (pay scope). Idempotent."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.utils import timezone

from members import demo as members_demo
from members.models import User

from . import uploads
from .models import DocumentKind, DocumentType, FamilyLink, LinkStatus, LinkTerm
from .services import AGREEMENT_VERSION

# A minimal valid PDF, standing in for a signed commitment letter.
DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    b"xref\n0 2\n0000000000 65535 f \n0000000009 00000 n \n"
    b"trailer\n<< /Size 2 /Root 1 0 R >>\nstartxref\n48\n%%EOF\n"
)

LINKS = [
    # (relative key, relationship, balance, records, pay, cap, document kind)
    ("lina", "spouse", True, True, True, None, DocumentKind.POWER_OF_ATTORNEY),
    ("zhangjianguo", "parent", True, False, False, None, DocumentKind.COMMITMENT_LETTER),
    ("zhangxiaoyu", "child", False, False, True, None, DocumentKind.COMMITMENT_LETTER),
]


def _demo_document(key: str) -> str:
    """Store the demo PDF under a stable name derived from the key (so a re-run
    finds the same file)."""
    name = hashlib.sha256(f"family-demo-{key}".encode()).hexdigest()[:48]
    path: Path = uploads.storage_dir() / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_bytes(DEMO_PDF)
    return name


def seed() -> None:
    member = members_demo.person("zhangwei")
    reviewer = User.objects.filter(username="staff").first()
    now = timezone.now()
    for key, relationship, balance, records, pay, cap, kind in LINKS:
        relative = members_demo.person(key)
        if FamilyLink.objects.filter(member=member, relative=relative).exists():
            continue  # seeded before (and perhaps ended since): leave it as it is
        FamilyLink.objects.create(
            member=member,
            relative=relative,
            relationship=relationship,
            status=LinkStatus.APPROVED,
            scope_balance=balance,
            scope_records=records,
            scope_pay=pay,
            pay_yearly_cap_fen=cap,
            consent_version=AGREEMENT_VERSION,
            consent_at=now,
            document_kind=kind,
            document_name=_demo_document(key),
            document_type=DocumentType.PDF,
            document_size=len(DEMO_PDF),
            document_sha256=hashlib.sha256(DEMO_PDF).hexdigest(),
            reviewed_by=reviewer,
            reviewed_at=now,
            term=LinkTerm.UNTIL_ENDED,
            relative_confirmed_at=now,
        )
