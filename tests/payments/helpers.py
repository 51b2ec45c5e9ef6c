import datetime as dt

from members.idnumber import make_id_number
from members.models import InsuranceType
from tests.conftest import make_member

HEADER = "id_number,period,base,employer_amount,individual_amount,payer,paid_on,status"


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def retiree():
    return make_member(
        "Grandpa",
        birth=dt.date(1950, 5, 5),
        seq=31,
        insurance_type=InsuranceType.RETIRED,
        signs_in=False,
    )


def unknown_number() -> str:
    return make_id_number("110105", dt.date(1970, 1, 1), 99)
