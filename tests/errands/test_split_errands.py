"""The worked examples of docs/adr/0019-member-errands.md, through the
institution API: cross-region care without and with a filing, a chronic
disease's own outpatient policy, and both at once. Policy parameters:
tests/claims/conftest.py (110100 employee outpatient: deductible 1,800.00,
ratio 70%) and errands/policy_data.py (110100: filed cut 5 points, unfiled
cut 20 points; hypertension: deductible 200.00, ratio 85%)."""

import datetime as dt

from django.utils import timezone

from claims.models import Expense, FundAccumulator
from errands import services
from errands.models import ChronicDisease
from tests.family import files


def _today():
    return timezone.localdate()


def _body(person, amount, *, chronic=""):
    body = {
        "patient_id_number": person.id_number,
        "service_date": _today().isoformat(),
        "care_type": "outpatient",
        "lines": [{"catalog_class": "A", "amount": amount}],
    }
    if chronic:
        body["chronic_disease"] = chronic
    return body


def _english(institution_api, inst):
    """The institution's API client, reading reasons in English."""
    api = institution_api(inst)
    api.client.credentials(HTTP_AUTHORIZATION=f"Bearer {inst.raw_token}", HTTP_ACCEPT_LANGUAGE="en")
    return api


def _parts(data):
    return [(p["payer"], p["component"], p["amount"]) for p in data["parts"]]


def _filing(person, staff, destination="310100"):
    filing = services.filing_submit(
        person=person,
        actor=person.user,
        kind="temporary",
        destination=destination,
        start_date=_today() - dt.timedelta(days=1),
        end_date=_today() + dt.timedelta(days=30),
    )
    return services.filing_approve(filing_id=filing.pk, reviewer=staff)


def _chronic(person, staff, code="HTN"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    application = services.chronic_submit(
        person=person,
        actor=person.user,
        disease_code=code,
        document=SimpleUploadedFile("d.png", files.pillow_png(), content_type="image/png"),
    )
    return services.chronic_approve(
        application_id=application.pk,
        reviewer=staff,
        valid_from=_today() - dt.timedelta(days=1),
        valid_until=_today() + dt.timedelta(days=365),
    )


def test_example_0_at_home_nothing_changes(alice, hospital, institution_api, this_year_policies):
    r = _english(institution_api, hospital).submit(_body(alice, "3000.00"), key="home")
    data = r.json()
    assert r.status_code == 201, data
    assert (data["fund"], data["cash"]) == ("840.00", "2160.00")
    assert data["cross_region"] == {"cross_region": False, "filed": False}
    assert "Cross-region" not in " ".join(p["reason"] for p in data["parts"])


def test_example_1_cross_region_without_a_filing(
    alice, shanghai_hospital, institution_api, this_year_policies
):
    r = _english(institution_api, shanghai_hospital).submit(_body(alice, "3000.00"), key="unfiled")
    data = r.json()
    assert r.status_code == 201, data
    assert (data["total"], data["fund"], data["account"], data["cash"]) == (
        "3000.00",
        "600.00",
        "0.00",
        "2400.00",
    )
    assert _parts(data) == [
        ("fund", "fund", "600.00"),
        ("cash", "deductible", "1800.00"),
        ("cash", "copay", "600.00"),
    ]
    assert data["cross_region"] == {"cross_region": True, "filed": False}
    for part in data["parts"]:
        assert (
            "Cross-region care in 上海市徐汇区 without a valid filing: the pooled fund pays "
            "50% instead of 70% at home."
        ) in part["reason"]
    assert data["parts"][0]["reason"].startswith("The pooled fund pays 50% of the ¥1,200.00")


def test_example_2_cross_region_with_a_filing(
    alice, staff, shanghai_hospital, institution_api, this_year_policies
):
    filing = _filing(alice, staff)
    r = _english(institution_api, shanghai_hospital).submit(_body(alice, "3000.00"), key="filed")
    data = r.json()
    assert r.status_code == 201, data
    assert (data["fund"], data["cash"]) == ("780.00", "2220.00")
    assert _parts(data) == [
        ("fund", "fund", "780.00"),
        ("cash", "deductible", "1800.00"),
        ("cash", "copay", "420.00"),
    ]
    assert data["cross_region"] == {"cross_region": True, "filed": True}
    for part in data["parts"]:
        assert (
            "Cross-region care in 上海市徐汇区 with a valid filing: the pooled fund pays "
            "65% instead of 70% at home."
        ) in part["reason"]
    assert Expense.objects.get().basis["filing"] == filing.pk


def test_a_filing_for_another_city_does_not_count(
    alice, staff, shanghai_hospital, institution_api, this_year_policies
):
    _filing(alice, staff, destination="440300")
    data = (
        _english(institution_api, shanghai_hospital).submit(_body(alice, "3000.00"), key="x").json()
    )
    assert data["fund"] == "600.00" and data["cross_region"]["filed"] is False


def test_example_3_chronic_disease_policy(
    alice, staff, hospital, institution_api, this_year_policies
):
    _chronic(alice, staff)
    r = _english(institution_api, hospital).submit(
        _body(alice, "1000.00", chronic="HTN"), key="htn"
    )
    data = r.json()
    assert r.status_code == 201, data
    assert (data["fund"], data["cash"]) == ("680.00", "320.00")
    assert _parts(data) == [
        ("fund", "fund", "680.00"),
        ("cash", "deductible", "200.00"),
        ("cash", "copay", "120.00"),
    ]
    assert data["chronic_disease"] == {"code": "HTN", "applied": True}
    for part in data["parts"]:
        assert (
            "Chronic disease outpatient policy for 高血压病 (approved application): "
            "deductible ¥200.00, the pooled fund pays 85%."
        ) in part["reason"]
    # its own benefit pool: the ordinary outpatient deductible is untouched
    acc = FundAccumulator.objects.get(person=alice, pool="mt:HTN")
    assert (acc.deductible_used_fen, acc.fund_paid_fen) == (20000, 68000)
    assert not FundAccumulator.objects.filter(person=alice, pool="outpatient").exists()
    # a refund gives the room back to that pool
    expense = Expense.objects.get()
    assert _english(institution_api, hospital).reverse(expense.pk).status_code == 200
    acc.refresh_from_db()
    assert (acc.deductible_used_fen, acc.fund_paid_fen) == (0, 0)


def test_example_4_tagged_without_approval_keeps_the_ordinary_policy(
    alice, hospital, institution_api, this_year_policies
):
    r = _english(institution_api, hospital).submit(
        _body(alice, "1000.00", chronic="HTN"), key="no-app"
    )
    data = r.json()
    assert r.status_code == 201, data
    assert (data["fund"], data["cash"]) == ("0.00", "1000.00")
    assert _parts(data) == [("cash", "deductible", "1000.00")]
    assert data["chronic_disease"] == {"code": "HTN", "applied": False}
    assert "no approved chronic disease application" in data["parts"][0]["reason"]


def test_example_5_chronic_disease_in_another_city_with_a_filing(
    alice, staff, shanghai_hospital, institution_api, this_year_policies
):
    _chronic(alice, staff)
    _filing(alice, staff)
    r = _english(institution_api, shanghai_hospital).submit(
        _body(alice, "1000.00", chronic="HTN"), key="both"
    )
    data = r.json()
    assert r.status_code == 201, data
    assert (data["fund"], data["cash"]) == ("640.00", "360.00")
    assert _parts(data) == [
        ("fund", "fund", "640.00"),
        ("cash", "deductible", "200.00"),
        ("cash", "copay", "160.00"),
    ]
    reason = data["parts"][0]["reason"]
    assert "Chronic disease outpatient policy for 高血压病" in reason
    assert "with a valid filing: the pooled fund pays 80% instead of 85% at home." in reason


def test_bad_chronic_tags_are_refused_and_change_nothing(
    alice, staff, hospital, institution_api, this_year_policies
):
    api = _english(institution_api, hospital)
    r = api.submit(_body(alice, "100.00", chronic="NOPE"), key="bad-1")
    assert r.status_code == 400 and "chronic_disease" in r.json()["error"]["fields"]
    body = _body(alice, "100.00", chronic="HTN")
    body["care_type"] = "inpatient"
    r = api.submit(body, key="bad-2")
    assert r.status_code == 400 and "chronic_disease" in r.json()["error"]["fields"]
    assert Expense.objects.count() == 0
    assert ChronicDisease.objects.filter(code="HTN").exists()


def test_filing_check_endpoint(alice, staff, hospital, shanghai_hospital, institution_api):
    from rest_framework.test import APIClient

    def check(inst):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {inst.raw_token}")
        return client.post(
            "/api/v1/claims/filing-check/", {"patient_id_number": alice.id_number}, format="json"
        )

    assert check(shanghai_hospital).json()["filed"] is False
    assert check(shanghai_hospital).json()["cross_region"] is True
    filing = _filing(alice, staff)
    data = check(shanghai_hospital).json()
    assert data["filed"] is True and data["cross_region"] is True
    assert data["filing"] == {
        "kind": "temporary",
        "valid_from": filing.start_date.isoformat(),
        "valid_until": filing.end_date.isoformat(),
    }
    assert alice.id_number not in check(shanghai_hospital).content.decode()
    home = check(hospital).json()
    assert (home["cross_region"], home["filed"]) == (False, False)


def test_the_cross_region_terms_read_in_one_statement_are_the_orms(
    alice, bob, staff, this_year_policies
):
    """``selectors.cross_region_terms`` (plain SQL, on every submission in
    another city) answers as ``valid_filing`` and the ORM's policy lookup,
    on the filing's first and last day, outside them, for another city and
    another person, and for a home region without a cross-region policy."""
    from errands import selectors
    from errands.models import CrossRegionPolicy

    filing = _filing(alice, staff)  # Shanghai, from yesterday for 31 days
    today = _today()
    days = [today - dt.timedelta(days=2), today - dt.timedelta(days=1), today]
    days += [today + dt.timedelta(days=30), today + dt.timedelta(days=31)]
    seen = set()
    for person in (alice, bob):
        for region in ("310100", "310115", "440300"):
            for day in days:
                for home in ("110100", "999900"):
                    terms = selectors.cross_region_terms(person, region, day, home)
                    orm = selectors.valid_filing(person, region, day)
                    policy = CrossRegionPolicy.objects.filter(region=home, year=day.year).first()
                    assert terms.filing_id == (orm.pk if orm else None)
                    assert terms.filed_ratio_cut == (policy.filed_ratio_cut if policy else None)
                    assert terms.unfiled_ratio_cut == (policy.unfiled_ratio_cut if policy else None)
                    seen.add((terms.filing_id, terms.filed_ratio_cut is None))
    # both answers came up: a filing and none, a policy and none
    assert seen >= {(filing.pk, False), (None, False), (None, True)}


def test_a_replay_is_answered_after_what_refuses_a_new_submission_changed(
    alice, hospital, institution_api, this_year_policies
):
    """The key is probed before anything else only when a step before the
    transaction refuses the request: a disease taken off the list since
    refuses a new submission tagged with it, never the replay of one."""
    disease = ChronicDisease.objects.create(code="ZZ1", name="试验病", name_en="Trial disease")
    api = _english(institution_api, hospital)
    first = api.submit(_body(alice, "100.00", chronic="ZZ1"), key="tagged")
    assert first.status_code == 201, first.content
    disease.delete()

    again = api.submit(_body(alice, "100.00", chronic="ZZ1"), key="tagged")
    other = api.submit(_body(alice, "100.01", chronic="ZZ1"), key="tagged")
    new = api.submit(_body(alice, "100.00", chronic="ZZ1"), key="new")

    assert again.status_code == 201 and again.json() == first.json()
    assert other.status_code == 409, other.content
    assert new.status_code == 400 and "chronic_disease" in new.json()["error"]["fields"]
    assert Expense.objects.count() == 1
