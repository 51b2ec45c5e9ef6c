import csv
import datetime as dt
import io

from tests.dashboard.helpers import contribution, contributions, months


def test_payment_record_filters_by_year_and_status(alice, client_for):
    contribution(alice, dt.date(2025, 2, 1))
    contribution(alice, dt.date(2025, 1, 1), status="arrears")
    contribution(alice, dt.date(2024, 12, 1))
    client = client_for(alice)

    body = client.get("/dashboard/records/?year=2025&status=paid").content.decode()

    assert body.count('data-testid="contribution-row"') == 1
    assert "2025-02" in body and "2024-12" not in body
    body = client.get("/dashboard/records/?year=2025").content.decode()
    assert body.count('data-testid="contribution-row"') == 2


def test_keyset_pages_walk_every_record_once(alice, client_for):
    periods = months(120)  # ten years, newest first
    contributions(alice, periods)
    client = client_for(alice)
    seen, url = [], "/dashboard/records/"
    while url:
        response = client.get(url)
        body = response.content.decode()
        rows = body.split('data-testid="contribution-row"><th scope="row"')[1:]
        seen += [row.split(">", 1)[1][:7] for row in rows]
        marker = 'data-testid="next-contributions" href="'
        url = body.split(marker)[1].split('"')[0].replace("&amp;", "&") if marker in body else None
        if url:
            url = "/dashboard/records/" + url
    assert seen == [p.strftime("%Y-%m") for p in periods]
    assert len(seen) == 120


def test_deep_page_costs_the_same_queries_as_the_first(
    alice, client_for, django_assert_max_num_queries
):
    contributions(alice, months(150))
    client = client_for(alice)
    with django_assert_max_num_queries(12) as first:
        client.get("/dashboard/records/")
    with django_assert_max_num_queries(12) as deep:
        response = client.get("/dashboard/records/?after=2014-01-01_1")
    assert response.status_code == 200
    assert len(deep.captured_queries) == len(first.captured_queries)
    sql = " ".join(q["sql"] for q in deep.captured_queries)
    assert "OFFSET" not in sql.upper()


def test_records_query_count_is_flat(alice, client_for, django_assert_max_num_queries):
    contribution(alice, dt.date(2025, 1, 1))
    client = client_for(alice)
    with django_assert_max_num_queries(12) as few:
        client.get("/dashboard/records/")
    contributions(alice, months(60, last=dt.date(2024, 12, 1)))
    with django_assert_max_num_queries(12) as many:
        client.get("/dashboard/records/")
    assert len(many.captured_queries) == len(few.captured_queries)


def test_csv_export_has_every_filtered_row(alice, client_for):
    contribution(alice, dt.date(2025, 3, 1))
    contribution(alice, dt.date(2025, 2, 1), status="arrears")
    contribution(alice, dt.date(2024, 3, 1))

    response = client_for(alice).get("/dashboard/records.csv?year=2025")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 3
    assert rows[1][0] == "2025-03"
    assert rows[1][1:5] == ["8,000.00", "720.00", "160.00", "160.00"]
    assert rows[2][0] == "2025-02"
    assert rows[2][4] == "0.00"


def test_relative_without_records_scope_gets_no_csv(alice, bob, client_for):
    from tests.dashboard.helpers import link

    contribution(alice, dt.date(2025, 3, 1))
    link(alice, bob, balance=True, records=False)
    response = client_for(bob).get(f"/dashboard/records.csv?person={alice.pk}")
    assert response.status_code == 404


def test_relative_with_records_scope_sees_the_record(alice, bob, client_for):
    from tests.dashboard.helpers import link

    contribution(alice, dt.date(2025, 3, 1))
    link(alice, bob, balance=False, records=True)
    body = client_for(bob).get(f"/dashboard/records/?person={alice.pk}").content.decode()
    assert body.count('data-testid="contribution-row"') == 1
    assert 'data-testid="viewing-relative"' in body


def test_a_retiree_month_reads_as_a_credit_not_as_a_payment(client_for, db):
    import datetime as dt

    from tests.conftest import make_member
    from tests.dashboard.helpers import contribution

    retiree = make_member("Grandpa", birth=dt.date(1950, 5, 1), seq=71, insurance_type="retired")
    contribution(retiree, dt.date(2025, 3, 1))
    page = (
        client_for(retiree)
        .get("/dashboard/records/?year=2025", HTTP_ACCEPT_LANGUAGE="en")
        .content.decode()
    )

    assert "Retiree credit (nothing to pay)" in page
    assert '<span class="badge ok">Paid</span>' not in page
