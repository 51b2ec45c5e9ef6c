"""Shared set-up for the resident-contribution tests (docs/adr/0018): a
member with a surplus, a resident-scheme child linked the way members link
relatives (request, document, staff approval), and the demo policy rows."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from accounts.models import AccountKind
from accounts.services import ledger_post, member_pockets, system_account
from members.models import InsuranceType
from payments.models import PolicyYear
from payments.policy_data import load, load_resident
from tests.conftest import make_member


def policies() -> None:
    load(PolicyYear)  # a transactional test may have emptied the table
    load_resident(PolicyYear)


def fund_prior(person, fen: int) -> None:
    _cur, prior = member_pockets(person)
    ledger_post(
        idempotency_key=f"test-fund:{person.pk}:{uuid.uuid4()}",
        kind="test.credit",
        postings=[(system_account(AccountKind.POOLED_FUND), -fen), (prior, fen)],
    )


def resident_child(name: str = "Xiaoyu", *, seq: int = 42, signs_in: bool = False):
    return make_member(
        name,
        birth=dt.date(2014, 6, 1),
        seq=seq,
        insurance_type=InsuranceType.RESIDENT,
        signs_in=signs_in,
        phone="13900000042" if signs_in else None,
    )


def link(member, relative, reviewer, *, relationship="child", **scopes):
    from family import services
    from tests.family.conftest import request_link

    fields = {"scope_balance": False, "scope_records": False, "scope_pay": True}
    fields.update(scopes)
    pending = request_link(member, relative, relationship=relationship, **fields)
    return services.link_approve(link_id=pending.pk, reviewer=reviewer)


def token() -> str:
    return secrets.token_hex(16)
