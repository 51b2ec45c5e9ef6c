import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from members.idnumber import make_id_number, mask_id_number, parse_id_number
from members.services import person_create

TODAY = dt.date(2026, 11, 23)


@pytest.mark.parametrize(
    ("raw", "birth", "sex"),
    [
        ("11010519491231002X", dt.date(1949, 12, 31), "F"),
        ("440524188001010014", dt.date(1880, 1, 1), "M"),
        ("11010519491231002x", dt.date(1949, 12, 31), "F"),  # lowercase x normalised
        ("  11010519491231002X \t", dt.date(1949, 12, 31), "F"),  # spaces stripped
    ],
)
def test_valid_numbers_give_birth_date_and_sex(raw, birth, sex):
    number = parse_id_number(raw, today=TODAY)

    assert number.value == raw.strip().upper()
    assert number.birth_date == birth
    assert number.sex == sex
    assert number.region_code == number.value[:6]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("110105194912310021", "checksum"),  # bad check character
        ("110105194902300012", "birth_date"),  # no 30 February
        ("110105209912310010", "future_birth_date"),
        ("11010519491231002", "format"),  # 17 characters
        ("1101051949123100XX", "format"),
        ("", "format"),
        ("11010519491231002Y", "format"),
    ],
)
def test_invalid_numbers_are_refused_with_a_specific_reason(raw, code):
    with pytest.raises(ValidationError) as excinfo:
        parse_id_number(raw, today=TODAY)

    assert excinfo.value.code == code


def test_the_examples_checksum_right_but_30_february_is_really_checksum_valid():
    # The DOMAIN.md example is meant to fail on the date, not the check character.
    from members.idnumber import check_character

    assert check_character("11010519490230001") == "2"


def test_mask_shows_first_four_and_last_four():
    assert mask_id_number("11010519491231002X") == "1101**********002X"


def test_make_id_number_round_trips():
    value = make_id_number("310101", dt.date(2000, 2, 29), 7)

    number = parse_id_number(value, today=TODAY)

    assert number.birth_date == dt.date(2000, 2, 29)
    assert number.sex == "M"


@pytest.mark.django_db
def test_person_create_derives_birth_date_and_sex_and_normalises():
    person = person_create(id_number=" 11010519491231002x ", name=" 王秀英 ")

    person.refresh_from_db()
    assert person.id_number == "11010519491231002X"
    assert person.birth_date == dt.date(1949, 12, 31)
    assert person.sex == "F"
    assert person.name == "王秀英"
    assert person.insured_region == "110105"


@pytest.mark.django_db
def test_person_create_refuses_a_bad_number_and_stores_nothing():
    from members.models import InsuredPerson

    with pytest.raises(ValidationError):
        person_create(id_number="110105194912310021", name="Nobody")

    assert InsuredPerson.objects.count() == 0


@pytest.mark.parametrize(
    "raw",
    [
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits
        "11010519491231002Ｘ",  # full-width X
        "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",  # Arabic-Indic digits
        "\u300011010519491231002X",  # ideographic space
        "11010519491231002X\u00a0",  # no-break space
    ],
)
def test_only_ascii_digits_are_accepted(raw):
    with pytest.raises(ValidationError) as info:
        parse_id_number(raw, today=TODAY)

    assert info.value.code == "non_ascii"


def test_a_trailing_newline_is_stripped_not_matched_by_the_shape():
    assert parse_id_number("11010519491231002X\n", today=TODAY).value == "11010519491231002X"
    with pytest.raises(ValidationError):
        parse_id_number("11010519491231002X\nX", today=TODAY)
