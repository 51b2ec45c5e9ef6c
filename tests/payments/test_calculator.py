"""The contribution calculator: service, API and page."""

import pytest

from payments.models import PolicyYear
from payments.selectors import calculate, policy_for
from portal.errors import ApplicationError


def test_8000_yuan_in_the_demo_region_2026(db):
    quote = calculate(base_fen=800000, region="110100", year=2026)

    # average wage 12,049.00: floor 60% = 7,229.40, cap 300% = 36,147.00
    assert (quote.floor_fen, quote.cap_fen, quote.base_fen) == (722940, 3614700, 800000)
    assert (quote.employer_fen, quote.individual_fen, quote.credit_fen) == (78400, 16000, 16000)
    assert quote.retiree_credit_fen == 10000
    assert not quote.clamped


def test_the_base_is_clamped_to_floor_and_cap(db):
    low = calculate(base_fen=300000, region="110100", year=2026)
    high = calculate(base_fen=5000000, region="110100", year=2026)

    assert (low.base_fen, low.individual_fen, low.employer_fen) == (722940, 14459, 70848)
    assert (high.base_fen, high.individual_fen) == (3614700, 72294)
    assert low.clamped and high.clamped


def test_a_district_falls_back_to_its_city_and_then_its_province(db):
    PolicyYear.objects.create(
        region="110000",
        year=2030,
        average_wage_fen=1000000,
        base_floor_ratio="0.5",
        base_cap_ratio="3",
        employer_rate="0.1",
        individual_rate="0.02",
        credit_rate="0.5",
        retiree_monthly_credit_fen=5000,
    )

    assert policy_for(region="110105", year=2026).region == "110100"
    assert policy_for(region="110105", year=2030).region == "110000"
    assert calculate(base_fen=800000, region="110105", year=2030).credit_fen == 8000
    assert policy_for(region="120105", year=2026) is None


def test_no_policy_is_a_clear_error(db):
    with pytest.raises(ApplicationError) as excinfo:
        calculate(base_fen=800000, region="120100", year=2026)

    assert excinfo.value.code == "no_policy"
    assert list(excinfo.value.fields) == ["year"]


def test_calculator_api_answers_without_signing_in(client, db):
    response = client.get("/api/v1/payments/calculator/?base=8000&region=110100&year=2026")

    assert response.status_code == 200
    assert response.json() == {
        "region": "110100",
        "year": 2026,
        "declared_base": "8000.00",
        "base": "8000.00",
        "base_floor": "7229.40",
        "base_cap": "36147.00",
        "clamped": False,
        "employer_rate": "0.0980",
        "individual_rate": "0.0200",
        "employer_amount": "784.00",
        "individual_amount": "160.00",
        "total": "944.00",
        "personal_account_credit": "160.00",
        "retiree_monthly_credit": "100.00",
    }


def test_calculator_api_names_each_bad_field(client, db):
    response = client.get("/api/v1/payments/calculator/?base=-5&region=11010&year=abc")
    missing = client.get("/api/v1/payments/calculator/?base=8000&region=120100&year=2026")

    body = response.json()["error"]
    assert response.status_code == 400
    assert body["code"] == "invalid"
    assert sorted(body["fields"]) == ["base", "region", "year"]
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "no_policy"
    assert list(missing.json()["error"]["fields"]) == ["year"]


def test_calculator_page_shows_the_amounts(client, db):
    response = client.get(
        "/payments/calculator/?base=8000&region=110100&year=2026", HTTP_ACCEPT_LANGUAGE="en"
    )
    page = response.content.decode()

    assert response.status_code == 200
    assert 'data-testid="employer">¥784.00' in page
    assert 'data-testid="individual">¥160.00' in page
    assert 'data-testid="credit">¥160.00' in page
    # rates as people write them, the place by name
    assert "(9.8% of the base)" in page and "(2% of the base)" in page
    assert "Each month (北京市, 2026)" in page


def test_the_calculator_offers_places_by_name_not_a_code_field(client, db):
    page = client.get("/payments/calculator/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert '<select name="region"' in page
    assert '<option value="110100" selected>北京市</option>' in page
    assert '<option value="440300">广东省深圳市</option>' in page


def test_a_region_without_policy_is_named_in_the_refusal(client, db):
    response = client.get("/api/v1/payments/calculator/?base=8000&region=120100&year=2026")

    assert response.status_code == 404
    assert "天津市（120100）" in response.json()["error"]["message"]


def test_calculator_page_names_the_bad_field(client, db):
    response = client.get("/payments/calculator/?base=abc&region=110100&year=2026")

    assert response.status_code == 400
    assert 'data-testid="error-base"' in response.content.decode()
    assert 'data-testid="quote"' not in response.content.decode()
