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
