from accounts.models import AccountKind
from accounts.services import ledger_post, member_pockets, system_account
from audit.models import AuditEvent


def _credit(person, current_fen, prior_fen):
    current, prior = member_pockets(person)
    ledger_post(
        idempotency_key=f"seed:{person.pk}",
        kind="test.credit",
        postings=[
            (system_account(AccountKind.POOLED_FUND), -(current_fen + prior_fen)),
            (current, current_fen),
            (prior, prior_fen),
        ],
    )


def test_member_sees_own_balance_split_by_pocket(client_for, alice):
    _credit(alice, 123456, 7890)

    response = client_for(alice).get("/api/v1/accounts/balance/")

    assert response.status_code == 200
    assert response.json() == {
        "person_id": alice.pk,
        "currency": "CNY",
        "current_year": "1234.56",
        "prior_years": "78.90",
        "total": "1313.46",
    }
    assert AuditEvent.objects.count() == 0  # the owner's own reads are not "someone else"


def test_unrelated_member_gets_404_for_someone_elses_balance(client_for, alice, charlie):
    _credit(alice, 100, 0)

    response = client_for(charlie).get(f"/api/v1/accounts/{alice.pk}/balance/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert AuditEvent.objects.count() == 0


def test_staff_read_of_a_balance_is_audited(client_for, staff, alice):
    _credit(alice, 100, 0)

    response = client_for(staff).get(f"/api/v1/accounts/{alice.pk}/balance/")

    assert response.status_code == 200
    assert response.json()["total"] == "1.00"
    event = AuditEvent.objects.get()
    assert (event.actor, event.action, event.subject_person) == (
        staff,
        "person.balance.view",
        alice,
    )


def test_staff_without_a_person_gets_404_for_own_balance(client_for, staff):
    assert client_for(staff).get("/api/v1/accounts/balance/").status_code == 404


def test_anonymous_is_refused(client, alice):
    assert client.get(f"/api/v1/accounts/{alice.pk}/balance/").status_code in (401, 403)


def test_balance_api_reads_the_session_from_redis_not_the_database(
    client_for, alice, settings, django_assert_max_num_queries
):
    # With REDIS_URL set (as in the tests), sessions are cached_db.
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.cached_db"
    _credit(alice, 100, 0)
    client = client_for(alice)
    client.get("/api/v1/accounts/balance/")  # warm the session cache

    with django_assert_max_num_queries(2) as captured:
        response = client.get("/api/v1/accounts/balance/")

    assert response.status_code == 200
    assert not any("django_session" in q["sql"] for q in captured.captured_queries)


def test_the_answer_is_the_documented_serializers(client_for, alice):
    """The body is built without a serializer instance (issue 16): it is
    what ``BalanceOutput``, the shape the API documents, gives, for nothing,
    odd fen and a large amount."""
    from accounts.apis import BalanceOutput, _balance_body
    from accounts.selectors import pocket_balances

    def same():
        balances = pocket_balances(alice)
        documented = BalanceOutput(
            {
                "person_id": alice.pk,
                "currency": "CNY",
                "current_fen": balances.current_fen,
                "prior_fen": balances.prior_fen,
                "total_fen": balances.total_fen,
            }
        ).data
        assert _balance_body(alice) == documented
        assert client_for(alice).get("/api/v1/accounts/balance/").json() == documented

    same()
    for current, prior in ((1, 99), (123456789012, 5)):
        pockets = member_pockets(alice)
        ledger_post(
            idempotency_key=f"round:{current}:{prior}",
            kind="test.credit",
            postings=[
                (system_account(AccountKind.POOLED_FUND), -(current + prior)),
                (pockets[0], current),
                (pockets[1], prior),
            ],
        )
        same()
