"""The pages of paying a relative's resident contribution (docs/adr/0018):
choose, confirm, pay once, the receipt, and the lines on both records."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from accounts.models import AccountKind, LedgerAccount
from payments.models import ResidentContributionPayment

from .resident_helpers import fund_prior, link, policies, resident_child


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture
def year():
    return timezone.localdate().year


@pytest.fixture
def family(alice, bob, staff):
    policies()
    child = resident_child(signs_in=True)
    link(alice, child, staff)
    link(alice, bob, staff, relationship="spouse", scope_records=True)
    fund_prior(alice, 50000)
    return alice, bob, child


def _prior(person) -> int:
    return LedgerAccount.objects.get(person=person, kind=AccountKind.MEMBER_PRIOR).balance_fen


def test_choose_confirm_pay_and_the_receipt(family, year, client_for):
    alice, bob, child = family
    c = client_for(alice)
    page = c.get("/payments/family-contribution/").content.decode()
    assert f'data-testid="relative-{child.pk}"' in page
    # bob is an employee: listed, not choosable, with the reason
    assert f'data-testid="reason-{bob.pk}"' in page
    assert "Bob未参加城乡居民医保" in page  # pages speak Chinese by default
    confirm = c.get("/payments/family-contribution/confirm/", {"relative": child.pk, "year": year})
    assert confirm.status_code == 200
    body = confirm.content.decode()
    assert "400.00" in body and "100.00" in body  # the amount, and what remains
    assert not ResidentContributionPayment.objects.exists()  # the GET paid nothing
    token = re.search(r'name="submission" value="([0-9a-f]+)"', body).group(1)
    form = {"relative": child.pk, "year": year, "submission": token, "confirm": "yes"}
    done = c.post("/payments/family-contribution/pay/", form)
    payment = ResidentContributionPayment.objects.get()
    assert done.status_code == 302
    assert done["Location"] == f"/payments/family-contribution/{payment.pk}/"
    again = c.post("/payments/family-contribution/pay/", form)  # a double click
    assert again["Location"] == done["Location"]
    assert ResidentContributionPayment.objects.count() == 1
    assert _prior(alice) == 10000
    receipt = c.get(done["Location"])
    assert receipt.status_code == 200
    assert "400.00" in receipt.content.decode()


def test_pay_without_confirming_pays_nothing(family, year, client_for):
    alice, _bob, child = family
    response = client_for(alice).post(
        "/payments/family-contribution/pay/",
        {"relative": child.pk, "year": year, "submission": "a" * 32},
    )
    assert response.status_code == 400
    assert "confirm" in response.content.decode()
    assert not ResidentContributionPayment.objects.exists()
    assert _prior(alice) == 50000


def test_a_refusal_is_shown_with_its_reason(family, year, client_for):
    alice, bob, _child = family
    response = client_for(alice).get(
        "/payments/family-contribution/confirm/", {"relative": bob.pk, "year": year}
    )
    assert response.status_code == 409
    assert 'data-testid="error"' in response.content.decode()
    assert "未参加城乡居民医保" in response.content.decode()


def test_both_records_show_the_payment_and_others_see_a_masked_name(
    family, year, client_for, staff
):
    from family.resident import resident_contribution_pay

    alice, bob, child = family
    _payment, _c = resident_contribution_pay(
        member=alice, actor=alice.user, relative_id=child.pk, year=year, submission="b" * 32
    )
    own = client_for(alice).get("/dashboard/records/").content.decode()
    assert 'data-testid="surplus-line"' in own
    assert "Xiaoyu" in own and "-¥400.00" in own
    mine = client_for(child).get("/dashboard/records/").content.decode()
    assert 'data-testid="paid-for-line"' in mine
    assert "Alice" in mine
    # bob holds alice's records through a link: the relative's name is masked
    seen = client_for(bob).get(f"/dashboard/records/?person={alice.pk}").content.decode()
    assert 'data-testid="surplus-line"' in seen
    assert "X****u" in seen and "Xiaoyu" not in seen


def test_another_member_cannot_see_the_receipt(family, year, client_for, bob):
    from family.resident import resident_contribution_pay

    alice, _bob, child = family
    payment, _c = resident_contribution_pay(
        member=alice, actor=alice.user, relative_id=child.pk, year=year, submission="c" * 32
    )
    assert client_for(bob).get(f"/payments/family-contribution/{payment.pk}/").status_code == 404
