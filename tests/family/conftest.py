from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from family import services
from family.models import FamilyLink, LinkStatus
from tests.conftest import make_member

from . import files


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return settings.PRIVATE_MEDIA_ROOT


def stored_files(root) -> list[str]:
    d = root / "family"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def upload(content: bytes = b"", name: str = "letter.png", content_type: str = "image/png"):
    return SimpleUploadedFile(name, content or files.png(), content_type=content_type)


def request_link(
    member, relative, *, relationship="spouse", document=None, confirmed: bool = True, **kw
):
    """A request through the service; ``confirmed`` (the default): the adult
    relative has also confirmed it in their account, so approval alone puts
    it in effect (pass ``confirmed=False`` to test the confirmation)."""
    fields = dict(
        member=member,
        actor=member.user,
        agreed=True,
        agreement_version=services.AGREEMENT_VERSION,
        name=relative.name,
        id_number=relative.id_number,
        relationship=relationship,
        scope_balance=True,
        scope_records=False,
        scope_pay=False,
        pay_yearly_cap_fen=None,
        document_kind="commitment_letter",
        document=document or upload(),
    )
    fields.update(kw)
    link = services.link_request(**fields)
    if confirmed and not link.relative_is_minor:
        if getattr(relative, "user_id", None):
            link = services.link_confirm(link=link, user=relative.user)
        else:  # a relative without a sign-in: as if confirmed at the counter
            FamilyLink.objects.filter(pk=link.pk).update(relative_confirmed_at=timezone.now())
            link.refresh_from_db()
    return link


def approved_link(member, relative, reviewer, **kw) -> FamilyLink:
    link = request_link(member, relative, **kw)
    services.link_approve(link_id=link.pk, reviewer=reviewer)
    link.refresh_from_db()
    assert link.status == LinkStatus.APPROVED
    return link


@pytest.fixture
def father(db):
    return make_member("Father", birth=dt.date(1955, 2, 1), seq=31, phone="13900000031")


@pytest.fixture
def child(db):
    return make_member("Child", birth=dt.date(2012, 5, 5), seq=42, phone="13900000042")
