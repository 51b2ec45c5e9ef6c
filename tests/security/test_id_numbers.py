"""Identity numbers encrypted at rest, keyed-hash look-ups, key rotation, masking."""

import datetime as dt
import io

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection

from members import crypto
from members.idnumber import make_id_number
from members.models import InsuredPerson
from members.selectors import person_by_id_number, persons_by_id_numbers
from members.services import person_create
from tests.conftest import make_member

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def _raw_row(person):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM members_insuredperson WHERE id = %s", [person.pk])
        return " ".join(str(v) for v in cursor.fetchone())


def test_the_database_never_holds_the_number_in_clear(alice):
    raw = _raw_row(alice)

    assert alice.id_number not in raw
    columns = [f.column for f in InsuredPerson._meta.concrete_fields]
    assert "id_number" not in columns
    assert {"id_number_encrypted", "id_number_hash"} <= set(columns)


def test_the_number_reads_back_through_the_property(alice):
    fresh = InsuredPerson.objects.get(pk=alice.pk)

    expected = make_id_number("110105", dt.date(1985, 3, 15), 12)
    assert fresh.id_number == expected
    assert fresh.masked_id_number == f"1101**********{expected[-4:]}"


def test_lookup_by_hash_with_lowercase_x_and_spaces(db):
    person = make_member("X", birth=dt.date(1949, 12, 31), seq=2, signs_in=False)

    found = person_by_id_number("  11010519491231002x ")

    assert found.pk == person.pk
    # the number it holds, as stored (the look-up keeps it: no decryption)
    assert found.id_number == person.id_number == "11010519491231002X"
    assert found.masked_id_number == person.masked_id_number
    assert person_by_id_number("440524188001010014") is None
    assert person_by_id_number("") is None


def test_the_plain_sql_lookup_gives_the_orms_person(alice, bob, django_assert_num_queries):
    # Read on every expense submission in plain SQL (members.selectors): the
    # same row, every field equal in value and type, as a saved instance.
    for person in (alice, bob):
        orm = InsuredPerson.objects.filter(id_number_hash=person.id_number_hash).first()
        with django_assert_num_queries(1):
            plain = person_by_id_number(person.id_number)
        for field in InsuredPerson._meta.concrete_fields:
            mine, theirs = getattr(plain, field.attname), getattr(orm, field.attname)
            assert (mine, type(mine)) == (theirs, type(theirs)), field
        assert not plain._state.adding and plain._state.db == orm._state.db
        assert plain.id_number == person.id_number


def test_bulk_lookup_is_one_query(alice, bob, charlie, django_assert_num_queries):
    with django_assert_num_queries(1):
        found = persons_by_id_numbers(
            [alice.id_number.lower(), bob.id_number, "440524188001010014"]
        )

    assert {k: p.pk for k, p in found.items()} == {
        alice.id_number: alice.pk,
        bob.id_number: bob.pk,
    }


def test_the_hash_is_keyed(alice, settings):
    plain_sha = __import__("hashlib").sha256(alice.id_number.encode()).hexdigest()

    assert alice.id_number_hash != plain_sha
    settings.ID_NUMBER_HASH_KEYS = ["another-key"]
    assert person_by_id_number(alice.id_number) is None


def test_a_second_registration_of_the_same_number_is_refused_clearly(alice):
    from django.utils import translation

    with pytest.raises(ValidationError) as exc, translation.override("en"):
        person_create(id_number=alice.id_number.lower(), name="Copy")

    with translation.override("en"):
        assert exc.value.message_dict["id_number"] == [
            "A person with this identity number is already registered."
        ]
    assert InsuredPerson.objects.count() == 1


def test_encrypt_id_number_for_bulk_loading(settings):
    settings.ID_NUMBER_KEYS = [KEY_A]

    token, digest = crypto.encrypt_id_number(" 11010519491231002x")

    assert Fernet(KEY_A.encode()).decrypt(token.encode()) == b"11010519491231002X"
    assert digest == crypto.id_number_hash("11010519491231002X")


def test_rotation_with_two_keys_then_the_old_key_is_dropped(settings, db):
    settings.ID_NUMBER_KEYS = [KEY_A]
    people = [
        make_member(f"P{i}", birth=dt.date(1980, 1, 1 + i), seq=11 + i, signs_in=False)
        for i in range(5)
    ]
    numbers = {p.pk: p.id_number for p in people}

    # given: a new key first, the old one still listed
    settings.ID_NUMBER_KEYS = [KEY_B, KEY_A]
    out = io.StringIO()
    call_command("rotate_id_number_keys", "--batch-size", "2", stdout=out)

    assert "re-encrypted 5, re-hashed 0, already current 0" in out.getvalue()
    # when: the old key is dropped
    settings.ID_NUMBER_KEYS = [KEY_B]
    # then: every number still reads, and none is readable with the old key alone
    for person in InsuredPerson.objects.all():
        assert person.id_number == numbers[person.pk]
        with pytest.raises(InvalidToken):
            Fernet(KEY_A.encode()).decrypt(person.id_number_encrypted.encode())
    # and a second run changes nothing (idempotent)
    again = io.StringIO()
    call_command("rotate_id_number_keys", stdout=again)
    assert "re-encrypted 0, re-hashed 0, already current 5" in again.getvalue()


def test_dropping_a_key_before_rotation_fails_loudly(settings, db):
    settings.ID_NUMBER_KEYS = [KEY_A]
    person = make_member("P", signs_in=False)

    settings.ID_NUMBER_KEYS = [KEY_B]

    with pytest.raises(InvalidToken, match="rotate_id_number_keys"):
        _ = InsuredPerson.objects.get(pk=person.pk).id_number


def test_hash_key_rotation_keeps_lookups_working(settings, alice):
    old = settings.ID_NUMBER_HASH_KEYS[0]
    settings.ID_NUMBER_HASH_KEYS = ["new-hash-key", old]

    assert person_by_id_number(alice.id_number).pk == alice.pk  # found under the old key
    call_command("rotate_id_number_keys", stdout=io.StringIO())
    settings.ID_NUMBER_HASH_KEYS = ["new-hash-key"]

    assert person_by_id_number(alice.id_number).pk == alice.pk


def test_masked_for_others_full_for_the_owner(client_for, alice):
    from django.urls import reverse

    own = client_for(alice).get(reverse("home")).content.decode()

    assert alice.id_number in own
    assert alice.masked_id_number == f"{alice.id_number[:4]}{'*' * 10}{alice.id_number[-4:]}"
    assert str(alice) == f"Alice ({alice.masked_id_number})"


def test_admin_shows_masked_numbers_and_finds_by_full_number(client_for, staff, alice, bob):
    staff.is_superuser = True
    staff.save()
    c = client_for(staff)

    listing = c.get("/admin/members/insuredperson/").content.decode()
    # posted, so the number never appears in a URL (tests/security/test_id_numbers_not_in_urls.py)
    found = c.post(
        "/admin/members/insuredperson/search/", {"q": alice.id_number.lower()}, follow=True
    )

    assert alice.id_number not in listing
    assert alice.masked_id_number in listing
    assert list(found.context["cl"].result_list) == [alice]
