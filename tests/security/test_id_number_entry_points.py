"""One identity-number verdict at every entry point (docs/adr/0009).

10,000 random strings (valid numbers; near-valid ones; full-width digits and X,
Arabic-Indic, Devanagari, Thai, mathematical and other Unicode digits;
ideographic, no-break and zero-width spaces; ASCII spaces around; lowercase
x) go through the validation layer each entry point calls, and must get the
one parser's verdict (``members.idnumber.parse_id_number``): the same
normalised number, or a refusal with the same code. A seeded sample of them
then goes end to end over HTTP through every entry point, with a spy showing
that the view really called that layer. And a non-ASCII twin of a real
member's number never finds or creates that member anywhere.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random

import pytest
from django.contrib.admin.sites import site as admin_site
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.utils import translation
from rest_framework import serializers
from rest_framework.test import APIClient

import members.fields
from claims.apis import ExpenseIn
from claims.services import institution_create, institution_token_create
from family.apis import CounterInput, LinkInput
from family.forms import CounterForm, LinkRequestForm
from members import auth as members_auth
from members.admin import InsuredPersonAdmin
from members.apis import TokenInput
from members.fields import IdNumberFormField, IdNumberSerializerField
from members.forms import SignInForm
from members.idnumber import check_character, make_id_number, parse_id_number
from members.models import InsuredPerson
from members.views import SignInView
from payments import services as payment_services
from tests.conftest import PASSWORD

N = 10_000
SAMPLE = 200
SEED = 20261124

DIGITS = {
    "ascii": "0123456789",
    "full-width": "０１２３４５６７８９",
    "arabic-indic": "٠١٢٣٤٥٦٧٨٩",
    "extended arabic-indic": "۰۱۲۳۴۵۶۷۸۹",
    "devanagari": "०१२३४५६७८९",
    "bengali": "০১২৩৪৫৬৭৮৯",
    "thai": "๐๑๒๓๔๕๖๗๘๙",
    "mathematical bold": "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗",
    "mongolian": "᠐᠑᠒᠓᠔᠕᠖᠗᠘᠙",
    "superscript": "⁰¹²³⁴⁵⁶⁷⁸⁹",
}
X_FORMS = ["X", "x", "Ｘ", "ｘ", "Х"]  # the last is Cyrillic
ASCII_SPACES = [" ", "  ", "\t", "\n", "\r\n"]
OTHER_SPACES = ["\u3000", "\u00a0", "\u2009", "\u2007", "\u200b", "\ufeff", "\u202f"]
REGIONS = ["110105", "110108", "440305", "310101", "510104", "650102"]


def _valid(rng: random.Random) -> str:
    birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 33000))
    return make_id_number(rng.choice(REGIONS), birth, rng.randrange(1, 1000))


def _near_valid(rng: random.Random, number: str) -> str:
    kind = rng.randrange(6)
    if kind == 0:  # one digit changed: (usually) the check character is wrong
        i = rng.randrange(17)
        return number[:i] + str((int(number[i]) + rng.randrange(1, 10)) % 10) + number[i + 1 :]
    if kind == 1:  # a character missing
        i = rng.randrange(18)
        return number[:i] + number[i + 1 :]
    if kind == 2:  # a character too many
        i = rng.randrange(19)
        return number[:i] + rng.choice("0123456789") + number[i:]
    if kind == 3:  # no such day, with a right check character
        first17 = number[:10] + rng.choice(["13", "00", "02"]) + rng.choice(["30", "32", "00"])
        first17 += number[14:17]
        return first17 + check_character(first17)
    if kind == 4:  # born in the future
        first17 = number[:6] + "2099" + number[10:17]
        return first17 + check_character(first17)
    return number[:17] + rng.choice("YZ*-")  # a wrong last character


def _other_script(rng: random.Random, number: str) -> str:
    script = DIGITS[rng.choice([k for k in DIGITS if k != "ascii"])]
    every = rng.random() < 0.5
    positions = set(range(18)) if every else set(rng.sample(range(18), rng.randrange(1, 4)))
    return "".join(
        script[int(c)] if c.isdigit() and i in positions else c for i, c in enumerate(number)
    )


def random_id_string(rng: random.Random) -> str:
    number = _valid(rng)
    if rng.random() < 0.15:  # make sure plenty end with X
        while check_character(number[:17]) != "X":
            number = _valid(rng)
    roll = rng.random()
    if roll < 0.25:
        number = _near_valid(rng, number)
    elif roll < 0.60:
        number = _other_script(rng, number)
    if number.endswith("X") and rng.random() < 0.6:
        number = number[:-1] + rng.choice(X_FORMS)
    if rng.random() < 0.45:
        pool = ASCII_SPACES if rng.random() < 0.6 else OTHER_SPACES
        number = "".join(rng.choices(pool, k=rng.randrange(0, 3))) + number
        number += "".join(rng.choices(pool, k=rng.randrange(0, 3)))
    if rng.random() < 0.03:  # a space inside
        i = rng.randrange(1, 17)
        number = number[:i] + rng.choice([" ", "\u3000"]) + number[i:]
    return number


@pytest.fixture(scope="module")
def strings() -> list[str]:
    rng = random.Random(SEED)
    out = [random_id_string(rng) for _ in range(N)]
    assert len(out) == N
    return out


def parser_verdict(raw: str):
    try:
        return ("ok", parse_id_number(raw).value)
    except ValidationError as exc:
        return ("refused", exc.code)


def _form_verdict(field, raw):
    try:
        return ("ok", field.clean(raw))
    except ValidationError as exc:
        return ("refused", exc.code)


def _serializer_verdict(field, raw, then=None):
    try:
        value = field.run_validation(raw)
        return ("ok", then(value) if then else value)
    except (serializers.ValidationError, ValidationError) as exc:
        codes = exc.get_codes() if hasattr(exc, "get_codes") else [exc.code]
        return ("refused", codes[0] if isinstance(codes, list) else codes)


def _sign_in_verdict(raw):
    form = SignInForm(data={"username": raw, "password": "x"})
    try:
        form.cleaned_data = {"username": form.fields["username"].clean(raw)}
        return ("ok", form.clean_username())
    except ValidationError as exc:
        return ("refused", exc.code)


def _token_verdict(raw):
    ser = TokenInput()
    return _serializer_verdict(ser.fields["username"], raw, then=ser.validate_username)


def test_the_strings_cover_every_kind(strings):
    verdicts = [parser_verdict(s) for s in strings]
    codes = {v[1] for v in verdicts if v[0] == "refused"}
    valid = sum(v[0] == "ok" for v in verdicts)

    assert codes == {"non_ascii", "format", "checksum", "birth_date", "future_birth_date"}
    assert 1500 < valid < 5000
    assert any(s != s.strip(" \t\r\n") and parser_verdict(s)[0] == "ok" for s in strings)
    assert any("x" in s and parser_verdict(s)[0] == "ok" for s in strings)
    for script in DIGITS.values():
        assert any(set(script[1:]) & set(s) for s in strings)
    for space in OTHER_SPACES:
        assert any(space in s for s in strings)
    # every string is judged as an identity number at sign-in (not as a username)
    assert all(members_auth.meant_as_id_number(s) for s in strings)


@pytest.mark.parametrize(
    "entry_point",
    [
        "sign-in page",
        "token API",
        "family form",
        "family API",
        "counter page",
        "counter API",
        "institution API",
    ],
)
def test_every_entry_point_gives_the_parsers_verdict(entry_point, strings):
    family_api, counter_api, institution_api = LinkInput(), CounterInput(), ExpenseIn()
    layer = {
        "sign-in page": _sign_in_verdict,
        "token API": _token_verdict,
        "family form": lambda s: _form_verdict(LinkRequestForm.base_fields["id_number"], s),
        "family API": lambda s: _serializer_verdict(family_api.fields["id_number"], s),
        "counter page": lambda s: _form_verdict(CounterForm.base_fields["member_id_number"], s),
        "counter API": lambda s: _serializer_verdict(counter_api.fields["relative_id_number"], s),
        "institution API": lambda s: _serializer_verdict(
            institution_api.fields["patient_id_number"], s
        ),
    }[entry_point]

    mismatches = [(s, parser_verdict(s), layer(s)) for s in strings]
    mismatches = [m for m in mismatches if m[1] != m[2]]

    assert mismatches == []


ROW = ["2025-01", "8000", "784.00", "160.00", "employer", "2025-01-15", "paid"]


def _import_csv(rows: list[str]) -> tuple[str, list[int]]:
    """The CSV text and the line number the import reports for each row (a
    number with a newline around it is quoted and spans two lines)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(payment_services.COLUMNS)
    for raw in rows:
        writer.writerow([raw, *ROW])
    text = out.getvalue()
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    lines = []
    for _row in reader:
        lines.append(reader.line_num)
    assert len(lines) == len(rows)
    return text, lines


def test_the_contribution_import_gives_the_parsers_verdict(strings):
    outcome = payment_services.ImportOutcome(problems=payment_services.Problems(N + 1))
    text, lines = _import_csv(strings)
    with translation.override("en"):
        valid = payment_services._parse(io.StringIO(text, newline=""), outcome)
        expected = {}
        for line, s in zip(lines, strings, strict=True):
            try:
                expected[line] = ("ok", parse_id_number(s).value)
            except ValidationError as exc:
                expected[line] = ("refused", exc.messages[0])

    got = {row.line: ("ok", row.number) for row in valid}
    for line, column, _value, problem in outcome.problems.rows():
        if column == "id_number":
            got[line] = ("refused", problem)
    assert outcome.rows_total == N
    assert got == expected


def test_the_admin_search_gives_the_parsers_verdict(strings, alice):
    admin = InsuredPersonAdmin(InsuredPerson, admin_site)
    factory = RequestFactory()
    mismatches = []
    for s in strings:
        request = factory.get("/admin/members/insuredperson/")
        found, _dups = admin.get_search_results(request, InsuredPerson.objects.all(), s)
        error = getattr(request, "_id_number_search_error", None)
        verdict = parser_verdict(s)
        if (verdict[0] == "refused") != bool(error):
            mismatches.append((s, verdict, error))
        elif verdict[0] == "refused" and found.exists():  # (refused: no query at all)
            mismatches.append((s, verdict, "found someone"))

    assert mismatches == []


# --- End to end over HTTP -------------------------------------------------------


class Spy:
    """Wraps a validation function and records what it was called with."""

    def __init__(self, fn):
        self.fn = fn
        self.calls: list[str] = []

    def __call__(self, raw, *args, **kwargs):
        self.calls.append(raw)
        return self.fn(raw, *args, **kwargs)


@pytest.fixture
def sample(strings) -> list[str]:
    return random.Random(SEED + 1).sample(strings, SAMPLE)


@pytest.fixture
def en_messages(sample):
    with translation.override("en"):
        out = {}
        for s in sample:
            try:
                out[s] = ("ok", parse_id_number(s).value)
            except ValidationError as exc:
                out[s] = ("refused", exc.messages[0])
        return out


def test_the_views_use_those_layers():
    assert SignInView.authentication_form is SignInForm
    assert isinstance(LinkRequestForm.base_fields["id_number"], IdNumberFormField)
    assert isinstance(CounterForm.base_fields["member_id_number"], IdNumberFormField)
    assert isinstance(CounterForm.base_fields["relative_id_number"], IdNumberFormField)
    assert isinstance(LinkInput().fields["id_number"], IdNumberSerializerField)
    assert isinstance(CounterInput().fields["member_id_number"], IdNumberSerializerField)
    assert isinstance(ExpenseIn().fields["patient_id_number"], IdNumberSerializerField)


def test_sign_in_page_and_token_api_over_http(
    client, sample, en_messages, monkeypatch, alice, settings
):
    # Hundreds of failed sign-ins from one address: the per-address limit and
    # the API throttle would rightly stop them; they are tested on their own.
    settings.SIGNIN_ADDRESS_FAILURE_LIMIT = 10**6
    settings.API_THROTTLE_ANON = "off"
    spy = Spy(members_auth.clean_login)
    monkeypatch.setattr("members.forms.clean_login", spy)
    monkeypatch.setattr("members.apis.clean_login", spy)
    api = APIClient()
    wrong = []
    for s in sample:
        kind, expected = en_messages[s]
        page = client.post(
            "/accounts/login/", {"username": s, "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="en"
        )
        token = api.post(
            "/api/v1/auth/token/",
            {"username": s, "password": PASSWORD},
            format="json",
            HTTP_ACCEPT_LANGUAGE="en",
        )
        page_errors = page.context["form"].errors.get("username") if page.context else None
        token_fields = token.json()["error"]["fields"]
        if kind == "refused":
            ok = (
                page.status_code == 400
                and page_errors == [expected]
                and token.status_code == 400
                and token_fields == {"username": [expected]}
            )
        else:  # a valid number nobody holds: the usual "does not match"
            ok = page.status_code == 200 and not page_errors and "username" not in token_fields
            ok = ok and token.status_code == 400
        if not ok:
            wrong.append((s, kind, page.status_code, page_errors, token.status_code, token_fields))

    assert wrong == []
    assert spy.calls == [x for s in sample for x in (s, s)]


@pytest.fixture
def staff_client(client_for, staff):
    staff.is_superuser = True
    staff.save()
    return client_for(staff)


def test_family_form_and_api_over_http(client_for, alice, sample, en_messages, monkeypatch):
    spy = Spy(members.fields.clean_id_number)
    monkeypatch.setattr("members.fields.clean_id_number", spy)
    client = client_for(alice)
    wrong = []
    for s in sample:
        kind, expected = en_messages[s]
        fields = {
            "agree": "on",
            "agreement_version": "2026-11-v2",
            "name": "Somebody",
            "id_number": s,
            "relationship": "parent",
            "scope_balance": "on",
            "document_kind": "commitment_letter",
        }
        page = client.post("/family/add/", fields, HTTP_ACCEPT_LANGUAGE="en")
        api = client.post(
            "/api/v1/family/links/", {**fields, "agree": "true"}, HTTP_ACCEPT_LANGUAGE="en"
        )
        page_errors = page.context["form"].errors.get("id_number")
        api_errors = api.json()["error"]["fields"].get("id_number")
        if kind == "refused":
            ok = page_errors == [expected] and api_errors == [expected]
        else:  # the number is fine: refused later, for another field
            ok = page_errors is None and api_errors is None
        if not (ok and page.status_code == 400 and api.status_code == 400):
            wrong.append((s, kind, page.status_code, page_errors, api.status_code, api_errors))

    assert wrong == []
    assert spy.calls == [x for s in sample for x in (s, s)]
    assert InsuredPerson.objects.count() == 1


def test_counter_page_and_api_over_http(staff_client, alice, sample, en_messages, monkeypatch):
    spy = Spy(members.fields.clean_id_number)
    monkeypatch.setattr("members.fields.clean_id_number", spy)
    wrong = []
    for s in sample:
        kind, expected = en_messages[s]
        data = {"member_id_number": s, "relative_id_number": alice.id_number}
        page = staff_client.post("/family/counter/", data, HTTP_ACCEPT_LANGUAGE="en")
        api = staff_client.post("/api/v1/family/counter/", data, HTTP_ACCEPT_LANGUAGE="en")
        page_errors = page.context["form"].errors.get("member_id_number")
        api_errors = api.json()["error"]["fields"].get("member_id_number")
        if kind == "refused":
            ok = page_errors == [expected] and api_errors == [expected]
        else:  # a valid number nobody holds
            nobody = ["Nobody with this identity number is insured here."]
            ok = page_errors == nobody and api_errors == nobody
        if not (ok and page.status_code == 400 and api.status_code == 400):
            wrong.append((s, kind, page.status_code, page_errors, api.status_code, api_errors))

    assert wrong == []
    assert len(spy.calls) == 4 * SAMPLE  # both fields, page and API


def test_institution_api_over_http(sample, en_messages, monkeypatch, db):
    spy = Spy(members.fields.clean_id_number)
    monkeypatch.setattr("members.fields.clean_id_number", spy)
    inst = institution_create(name="City Hospital", kind="hospital", region="110100")
    _token, raw = institution_token_create(institution=inst)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    wrong = []
    for i, s in enumerate(sample):
        kind, expected = en_messages[s]
        response = api.post(
            "/api/v1/claims/expenses/",
            {
                "patient_id_number": s,
                "service_date": "2025-03-01",
                "care_type": "outpatient",
                "lines": [{"catalog_class": "A", "amount": "100.00"}],
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"k-{i}",
            HTTP_ACCEPT_LANGUAGE="en",
        )
        error = response.json()["error"]
        if kind == "refused":
            ok = error["fields"] == {"patient_id_number": [expected]}
        else:
            ok = error["code"] == "unknown_patient"
        if not (ok and response.status_code == 400):
            wrong.append((s, kind, response.status_code, error))

    assert wrong == []
    assert spy.calls == sample


def test_contribution_import_over_http(staff_client, sample, en_messages, monkeypatch):
    spy = Spy(payment_services.parse_id_number)
    monkeypatch.setattr("payments.services.parse_id_number", spy)
    text, lines = _import_csv(sample)
    data = text.encode()

    response = staff_client.post(
        "/payments/import/",
        {"file": SimpleUploadedFile("c.csv", data, "text/csv")},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    batch_url = response["Location"]
    report = staff_client.get(batch_url + "report.csv", HTTP_ACCEPT_LANGUAGE="en")
    rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))[1:]

    id_errors = {int(r[0]): r[3] for r in rows if r[1] == "id_number"}
    verdicts = {line: en_messages[s] for line, s in zip(lines, sample, strict=True)}
    expected = {line: v[1] for line, v in verdicts.items() if v[0] == "refused"}
    # a valid number nobody holds: "unknown person", after the parser said yes
    unknown = {line for line, v in verdicts.items() if v[0] == "ok"}
    assert {k: v for k, v in id_errors.items() if k not in unknown} == expected
    assert {k for k, v in id_errors.items() if v.startswith("Unknown person")} == unknown
    # each distinct (ASCII-space-stripped) value was judged by the parser
    assert set(spy.calls) == {s.strip(" \t\r\n").replace("x", "X") for s in sample}


def test_admin_search_over_http(staff_client, sample, en_messages, monkeypatch):
    spy = Spy(members.admin.parse_id_number)
    monkeypatch.setattr("members.admin.parse_id_number", spy)
    wrong = []
    for s in sample:
        kind, expected = en_messages[s]
        # the search box posts (no number in a URL); the list then shows nobody
        response = staff_client.post(
            "/admin/members/insuredperson/search/",
            {"q": s},
            follow=True,
            HTTP_ACCEPT_LANGUAGE="en",
        )
        shown = f"Identity number: {expected}" in response.content.decode()
        if response.redirect_chain != [("/admin/members/insuredperson/?id__exact=0", 302)]:
            wrong.append((s, kind, response.redirect_chain))
        if (kind == "refused") != shown:
            wrong.append((s, kind, "message" if shown else "no message"))
        if list(response.context["cl"].result_list) != []:
            wrong.append((s, "found someone"))

    assert wrong == []
    assert spy.calls == sample


# --- A twin of a real member's number --------------------------------------------


def twins(number: str) -> list[str]:
    fw = "".join(chr(ord(c) + 0xFEE0) for c in number)
    arabic = "".join(DIGITS["arabic-indic"][int(c)] if c.isdigit() else c for c in number)
    return [
        fw,
        number[:-1] + DIGITS["full-width"][int(number[-1])]
        if number[-1].isdigit()
        else number[:-1] + "Ｘ",
        arabic,
        "\u3000" + number,
        number + "\u00a0",
        "\ufeff" + number,
        number[:9] + DIGITS["devanagari"][int(number[9])] + number[10:],
    ]


def test_a_twin_never_finds_the_member_anywhere(alice, staff_client):
    from django.test import Client

    from members.selectors import person_by_id_number, persons_by_id_numbers

    client = Client()  # not signed in (staff_client is)
    api = APIClient()
    for twin in twins(alice.id_number):
        assert person_by_id_number(twin) is None
        assert persons_by_id_numbers([twin]) == {}
        assert members_auth.user_for_login(twin) is None
        signed_in = client.post("/accounts/login/", {"username": twin, "password": PASSWORD})
        assert signed_in.status_code == 400
        token = api.post(
            "/api/v1/auth/token/", {"username": twin, "password": PASSWORD}, format="json"
        )
        assert token.status_code == 400 and "token" not in token.json()
        search = staff_client.post("/admin/members/insuredperson/search/", {"q": twin}, follow=True)
        assert list(search.context["cl"].result_list) == []
    assert InsuredPerson.objects.count() == 1
    # the real number still works
    assert (
        client.post(
            "/accounts/login/", {"username": alice.id_number, "password": PASSWORD}
        ).status_code
        == 302
    )
