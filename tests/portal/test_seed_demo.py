from django.core.management import call_command

from members.models import InsuredPerson, User


def test_seed_demo_is_idempotent_and_people_are_valid(db):
    call_command("seed_demo")
    counts = (InsuredPerson.objects.count(), User.objects.count())

    call_command("seed_demo")

    assert (InsuredPerson.objects.count(), User.objects.count()) == counts
    assert counts[0] >= 5
    for person in InsuredPerson.objects.all():
        person.full_clean()


def test_demo_member_can_sign_in(client, db):
    from members.demo import id_number_of
    from portal.demo import DEMO_PASSWORD

    call_command("seed_demo")

    response = client.post(
        "/accounts/login/", {"username": id_number_of("zhangwei"), "password": DEMO_PASSWORD}
    )

    assert response.status_code == 302


def test_readme_lists_the_demo_sign_ins():
    from pathlib import Path

    from members.demo import PEOPLE, id_number_of
    from portal.demo import DEMO_PASSWORD

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")

    assert DEMO_PASSWORD in readme
    for key, *_rest, phone, signs_in in PEOPLE:
        if signs_in:
            assert f"`{id_number_of(key)}` or `{phone}`" in readme


def test_demo_current_year_funds_are_this_years_credits_less_this_years_spending(db):
    """The demo is a timeline: last year's expenses were paid from last year's
    pockets, so this year's current-year funds are exactly this year's credits
    minus what this year's expenses took from that pocket."""
    from django.db.models import Sum

    from accounts.selectors import pocket_balances
    from claims.models import ExpensePart, ExpenseStatus, Payer
    from members.demo import person
    from payments.models import Contribution
    from portal.demo import LAST_YEAR

    call_command("seed_demo")

    for key in ("zhangwei", "lina", "zhangjianguo", "wangfang"):
        member = person(key)
        credited = Contribution.objects.filter(person=member, period__year=LAST_YEAR).aggregate(
            s=Sum("credited_fen")
        )["s"]
        spent = (
            ExpensePart.objects.filter(
                expense__patient=member,
                expense__service_date__year=LAST_YEAR,
                expense__status=ExpenseStatus.ACCEPTED,
                payer=Payer.CURRENT,
            ).aggregate(s=Sum("amount_fen"))["s"]
            or 0
        )

        assert credited > 0
        assert pocket_balances(member).current_fen == credited - spent, key
