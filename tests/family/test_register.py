"""The register belongs to the insurer (docs/adr/0009): a relative's request
names an insured person or is refused, the same way whatever the miss, at
most FAMILY_CHECK_FAILURES_PER_DAY times a day, and leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from audit.models import AuditEvent
from family import services
from family.models import FamilyLink, LinkStatus
from members.crypto import id_number_hash
from members.idnumber import make_id_number
from members.models import InsuredPerson
from portal.errors import ApplicationError
from tests.conftest import make_member

from . import files
from .conftest import request_link, stored_files

NOT_VERIFIED = (
    "We could not verify this relative. The name and identity number must be exactly "
    "those of a person insured with us; to pay from your account, the relative must also "
    "be insured in your province. Please check both, or ask at the counter."
)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


class Stranger:
    """A valid number nobody holds."""

    name = "王小明"
    id_number = make_id_number("110108", dt.date(1988, 1, 2), 35)


def full_width(number: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in number)


def _misses(bob, charlie):
    """Three ways to name nobody the member may add: no such person, the wrong
    name, and (to pay) a person insured in another province."""
    wrong_name = type("WrongName", (), {"name": "Robert", "id_number": bob.id_number})
    return {
        "unknown": (Stranger, {}),
        "wrong name": (wrong_name, {}),
        "other province": (charlie, {"scope_pay": True}),
    }


def _refusal(member, relative, **kw) -> ApplicationError:
    with pytest.raises(ApplicationError) as refused:
        request_link(member, relative, **kw)
    return refused.value


def test_a_miss_is_refused_the_same_way_whatever_it_is(alice, bob, charlie, private_media):
    people = InsuredPerson.objects.count()

    refusals = {k: _refusal(alice, r, **kw) for k, (r, kw) in _misses(bob, charlie).items()}

    shapes = {k: (e.code, e.message, e.fields, e.status_code, e.extra) for k, e in refusals.items()}
    expected = ("relative_not_verified", NOT_VERIFIED, {"id_number": [NOT_VERIFIED]}, 400, {})
    assert shapes == {"unknown": expected, "wrong name": expected, "other province": expected}
    # nothing of a refused request remains
    assert InsuredPerson.objects.count() == people
    assert FamilyLink.objects.count() == 0
    assert stored_files(private_media) == []
    assert not InsuredPerson.objects.filter(name__in=["王小明", "Robert"]).exists()


def test_a_miss_costs_the_same_queries_whatever_it_is(alice, bob, charlie, private_media):
    counts = {}
    for key, (relative, kw) in _misses(bob, charlie).items():
        with CaptureQueriesContext(connection) as queries:
            _refusal(alice, relative, **kw)
        counts[key] = len(queries)

    assert len(set(counts.values())) == 1, counts


def test_the_api_answers_a_miss_with_one_body(client_for, alice, bob, charlie, private_media):
    client = client_for(alice)
    bodies = {}
    for key, (relative, kw) in _misses(bob, charlie).items():
        response = client.post(
            "/api/v1/family/links/",
            {
                "agree": "true",
                "agreement_version": services.AGREEMENT_VERSION,
                "name": relative.name,
                "id_number": relative.id_number,
                "relationship": "spouse",
                "scope_balance": "true",
                "scope_pay": "true" if kw.get("scope_pay") else "false",
                "document_kind": "commitment_letter",
                "document": SimpleUploadedFile("a.png", files.png(), "image/png"),
            },
            HTTP_ACCEPT_LANGUAGE="en",
        )
        bodies[key] = (response.status_code, response.json())

    assert bodies["unknown"] == (
        400,
        {
            "error": {
                "code": "relative_not_verified",
                "message": NOT_VERIFIED,
                "fields": {"id_number": [NOT_VERIFIED]},
            }
        },
    )
    assert bodies["wrong name"] == bodies["unknown"] == bodies["other province"]
    assert FamilyLink.objects.count() == 0
    assert stored_files(private_media) == []


def test_the_page_answers_a_miss_with_one_message(client_for, alice, bob, charlie):
    client = client_for(alice)
    pages = {}
    for key, (relative, kw) in _misses(bob, charlie).items():
        response = client.post(
            "/family/add/",
            {
                "agree": "on",
                "agreement_version": services.AGREEMENT_VERSION,
                "name": relative.name,
                "id_number": relative.id_number,
                "relationship": "spouse",
                "scope_balance": "on",
                **({"scope_pay": "on"} if kw.get("scope_pay") else {}),
                "document_kind": "commitment_letter",
                "document": SimpleUploadedFile("a.png", files.png(), "image/png"),
            },
            HTTP_ACCEPT_LANGUAGE="en",
        )
        pages[key] = (response.status_code, response.context["form"].errors.get_json_data())

    assert pages["unknown"] == (
        400,
        {"id_number": [{"message": NOT_VERIFIED, "code": ""}]},
    )
    assert pages["wrong name"] == pages["unknown"] == pages["other province"]


def test_failed_checks_are_audited_with_the_keyed_hash_only(alice, bob):
    _refusal(alice, Stranger)
    _refusal(alice, type("W", (), {"name": "Robert", "id_number": bob.id_number}))

    events = list(AuditEvent.objects.filter(action="family.relative_check.failed").order_by("id"))
    assert [(e.actor_id, e.subject_person_id, e.detail) for e in events] == [
        (
            alice.user_id,
            alice.pk,
            {"id_number_hash": id_number_hash(Stranger.id_number), "reason": "unknown"},
        ),
        (
            alice.user_id,
            alice.pk,
            {"id_number_hash": id_number_hash(bob.id_number), "reason": "name"},
        ),
    ]
    for event in events:
        row = repr(AuditEvent.objects.filter(pk=event.pk).values().get())
        assert Stranger.id_number not in row and bob.id_number not in row
        assert "Robert" not in row


def test_failed_checks_are_limited_per_member_and_day(alice, bob, father, settings):
    settings.FAMILY_CHECK_FAILURES_PER_DAY = 3
    for _ in range(3):
        assert _refusal(alice, Stranger).code == "relative_not_verified"
    assert services.relative_check_failures(alice) == 3

    # then even a request that would pass is refused, and says why
    limited = _refusal(alice, bob)

    assert (limited.code, limited.status_code) == ("too_many_checks", 429)
    assert "3" in limited.message and "tomorrow" in limited.message
    assert FamilyLink.objects.count() == 0
    assert AuditEvent.objects.filter(action="family.relative_check.failed").count() == 3
    assert AuditEvent.objects.filter(action="family.relative_check.limited").count() == 1
    # other members are not affected
    assert request_link(father, bob).status == LinkStatus.PENDING


def test_passed_checks_do_not_count(alice, bob, father, child, settings):
    settings.FAMILY_CHECK_FAILURES_PER_DAY = 1

    request_link(alice, bob)
    request_link(alice, father, relationship="parent")
    request_link(alice, child, relationship="child")

    assert services.relative_check_failures(alice) == 0
    assert FamilyLink.objects.count() == 3


def test_the_limit_answers_429_in_the_one_error_shape(client_for, alice, settings):
    settings.FAMILY_CHECK_FAILURES_PER_DAY = 1
    _refusal(alice, Stranger)

    response = client_for(alice).post(
        "/api/v1/family/links/",
        {
            "agree": "true",
            "agreement_version": services.AGREEMENT_VERSION,
            "name": Stranger.name,
            "id_number": Stranger.id_number,
            "relationship": "spouse",
            "scope_balance": "true",
            "document_kind": "commitment_letter",
            "document": SimpleUploadedFile("a.png", files.png(), "image/png"),
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    page = client_for(alice).post(
        "/family/add/",
        {
            "agree": "on",
            "agreement_version": services.AGREEMENT_VERSION,
            "name": Stranger.name,
            "id_number": Stranger.id_number,
            "relationship": "spouse",
            "scope_balance": "on",
            "document_kind": "commitment_letter",
            "document": SimpleUploadedFile("a.png", files.png(), "image/png"),
        },
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    assert response.status_code == 429
    assert response.json() == {
        "error": {
            "code": "too_many_checks",
            "message": (
                "Too many of your requests today named a relative we could not verify "
                "(the limit is 1 a day). Please try again tomorrow, or ask at the counter."
            ),
            "fields": {},
        }
    }
    assert page.status_code == 429
    assert "明天" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_parallel_misses_never_exceed_the_limit(alice, settings, private_media):
    settings.FAMILY_CHECK_FAILURES_PER_DAY = 3
    barrier = threading.Barrier(8)
    codes = []

    def guess(i):
        try:
            barrier.wait()
            who = type("G", (), {"name": f"G{i}", "id_number": Stranger.id_number})
            request_link(alice, who)
        except ApplicationError as exc:
            codes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(codes) == ["relative_not_verified"] * 3 + ["too_many_checks"] * 5
    assert AuditEvent.objects.filter(action="family.relative_check.failed").count() == 3


def test_adding_yourself_has_its_own_message_and_is_not_counted(alice):
    refused = _refusal(alice, alice)

    assert (refused.code, refused.fields) == ("self", {"id_number": [refused.message]})
    assert services.relative_check_failures(alice) == 0


def test_a_non_ascii_twin_of_a_real_number_finds_and_creates_nobody(alice, bob, private_media):
    people = InsuredPerson.objects.count()
    for twin in (full_width(bob.id_number), "\u3000" + bob.id_number, bob.id_number + "\u00a0"):
        refused = _refusal(alice, type("T", (), {"name": bob.name, "id_number": twin}))
        assert (refused.code, list(refused.fields)) == ("non_ascii", ["id_number"])
    own_twin = _refusal(
        alice, type("T", (), {"name": "Alice", "id_number": full_width(alice.id_number)})
    )

    assert own_twin.code == "non_ascii"  # never slips past "you cannot add yourself"
    assert InsuredPerson.objects.count() == people
    assert FamilyLink.objects.count() == 0
    assert stored_files(private_media) == []
    assert services.relative_check_failures(alice) == 0


@pytest.mark.parametrize("end", ["withdraw", "reject"])
def test_withdrawn_or_rejected_requests_leave_no_person_and_keep_their_history(
    end, alice, bob, staff
):
    people = sorted(InsuredPerson.objects.values_list("pk", flat=True))
    link = request_link(alice, bob)

    if end == "withdraw":
        services.link_end(link=link, user=alice.user)
    else:
        services.link_reject(link_id=link.pk, reviewer=staff, reason="not signed")

    assert sorted(InsuredPerson.objects.values_list("pk", flat=True)) == people
    link.refresh_from_db()
    assert link.status == (LinkStatus.ENDED if end == "withdraw" else LinkStatus.REJECTED)
    assert link.relative_id == bob.pk


def test_an_institution_cannot_bill_a_person_a_request_named(alice, private_media, db):
    """The review's scenario: a request naming a stranger used to create them;
    an institution could then bill the new "insured" person."""
    from rest_framework.test import APIClient

    from claims.services import institution_create, institution_token_create

    _refusal(alice, Stranger)
    inst = institution_create(name="City Hospital", kind="hospital", region="110100")
    _token, raw = institution_token_create(institution=inst)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = api.post(
        "/api/v1/claims/expenses/",
        {
            "patient_id_number": Stranger.id_number,
            "service_date": "2025-03-01",
            "care_type": "outpatient",
            "lines": [{"catalog_class": "A", "amount": "100.00"}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="stranger-1",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_patient"


def test_a_resident_insured_by_the_insurer_can_be_added(alice, db):
    """The insurer's paths (here staff: members.services.person_create) put
    a person in the register; then the member may name them."""
    niece = make_member(
        "侄女", birth=dt.date(1995, 5, 5), seq=62, insurance_type="resident", signs_in=False
    )

    link = request_link(alice, niece, scope_balance=True)

    assert (link.relative_id, link.status) == (niece.pk, LinkStatus.PENDING)
