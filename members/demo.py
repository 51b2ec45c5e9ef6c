"""Demo people: the 张 family, an unrelated member, staff.

Identity numbers are valid (check character computed), birth dates real.
"""

from __future__ import annotations

import datetime as dt

from portal.demo import DEMO_PASSWORD

from .idnumber import make_id_number
from .models import InsuranceType, InsuredPerson, User
from .selectors import person_by_id_number
from .services import member_user_create, person_create

# (key, name, region, birth date, sequence, insurance type, phone, has sign-in)
PEOPLE = [
    (
        "zhangwei",
        "张伟",
        "110105",
        dt.date(1985, 3, 15),
        11,
        InsuranceType.EMPLOYEE,
        "13800000001",
        True,
    ),
    (
        "lina",
        "李娜",
        "110108",
        dt.date(1987, 8, 2),
        22,
        InsuranceType.EMPLOYEE,
        "13800000002",
        True,
    ),
    (
        "zhangjianguo",
        "张建国",
        "110105",
        dt.date(1956, 11, 20),
        31,
        InsuranceType.RETIRED,
        "13800000003",
        True,
    ),
    (
        "zhangxiaoyu",
        "张小雨",
        "110105",
        dt.date(2014, 6, 1),
        42,
        InsuranceType.RESIDENT,
        None,
        False,
    ),
    (
        "wangfang",
        "王芳",
        "440305",
        dt.date(1990, 1, 9),
        28,
        InsuranceType.EMPLOYEE,
        "13800000005",
        True,
    ),
]

STAFF = [("staff", "Staff reviewer", False), ("admin", "Administrator", True)]
# Staff pages need a TOTP code. The demo staff share this fixed, public secret
# (base32 MRSW23ZNOBXXE5DBNQWXI33UOAWWWZLZ), so `python manage.py demo_totp staff`
# or any authenticator app can produce their codes. Never use it for real staff.
DEMO_TOTP_KEY = b"demo-portal-totp-key".hex()


def id_number_of(key: str) -> str:
    for k, _name, region, birth, seq, *_rest in PEOPLE:
        if k == key:
            return make_id_number(region, birth, seq)
    raise KeyError(key)


def person(key: str) -> InsuredPerson:
    found = person_by_id_number(id_number_of(key))
    if found is None:
        raise InsuredPerson.DoesNotExist(key)
    return found


def seed() -> None:
    for _key, name, region, birth, seq, itype, phone, signs_in in PEOPLE:
        number = make_id_number(region, birth, seq)
        p = person_by_id_number(number) or person_create(
            id_number=number, name=name, insurance_type=itype, insured_region=region
        )
        if signs_in and p.user_id is None:
            member_user_create(person=p, password=DEMO_PASSWORD, phone=phone)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    for username, first_name, superuser in STAFF:
        u = User.objects.filter(username=username).first()
        if u is None:
            u = User(
                username=username, first_name=first_name, is_staff=True, is_superuser=superuser
            )
            u.set_password(DEMO_PASSWORD)
            u.save()
        if not TOTPDevice.objects.filter(user=u, key=DEMO_TOTP_KEY).exists():
            TOTPDevice.objects.create(user=u, name="demo", key=DEMO_TOTP_KEY, confirmed=True)


def sign_ins() -> list[tuple[str, str]]:
    rows = []
    for key, name, _r, _b, _s, itype, phone, signs_in in PEOPLE:
        if signs_in:
            rows.append(
                (f"{name} ({InsuranceType(itype).label})", f"{id_number_of(key)} or {phone}")
            )
    rows += [
        (f"{label} (staff)", f"{username}, code: make totp WHO={username}")
        for username, label, _ in STAFF
    ]
    return rows
