"""Every route of the portal and what it needs from the access layer.

``tests/access/test_routes.py`` walks the URL resolver and fails when a route
is missing here, so a new page, API, CSV or PDF must say what it shows before
it ships; ``tests/access/test_matrix.py`` requests every person-scoped route
as every role.

``kind``:
- ``person``: a person named in the URL (or ``?person=``); needs ``scope``
  (``open``: any grant: owner, verified staff or a link in effect);
- ``own``: the viewer's own data only (a relative's data never);
- ``link`` / ``document``: a family link (member, relative, verified staff) /
  its uploaded document (member, verified staff);
- ``ecert``: the e-certificate subject (``access.lookups.ecert_subject``);
- ``staff``: verified staff only; what they see of members is audited;
- ``institution``: a designated institution's own expenses (Bearer token);
- ``public``: shows no member data (or only what a certificate printed).
"""

from __future__ import annotations

from typing import NamedTuple


class Route(NamedTuple):
    kind: str
    scope: str = ""


PERSON_KINDS = frozenset({"person", "own", "link", "document", "ecert"})

ROUTES: dict[str, Route] = {
    # member pages: the signed-in member, or ?person= as granted
    "home": Route("own", "open"),
    "dashboard:index": Route("own", "open"),
    "dashboard:member": Route("person", "open"),
    "dashboard:records": Route("person", "records"),
    "dashboard:records_csv": Route("person", "records"),
    "dashboard:ledger": Route("person", "records"),
    "dashboard:summary": Route("person", "records"),
    "dashboard:certificate": Route("person", "records"),
    "dashboard:certificate_pdf": Route("person", "records"),
    "dashboard:ecert": Route("own", "open"),
    "dashboard:ecert_token": Route("ecert", "pay"),
    "dashboard:insurance_certificate": Route("person", "records"),
    "dashboard:insurance_certificate_pdf": Route("person", "records"),
    # errands: the member's own, or ?person= with the errands scope
    "errands:index": Route("person", "errands"),
    "errands:filing_new": Route("person", "errands"),
    "errands:filing": Route("person", "errands"),
    "errands:filing_document": Route("person", "errands"),
    "errands:chronic_new": Route("person", "errands"),
    "errands:chronic": Route("person", "errands"),
    "errands:chronic_document": Route("person", "errands"),
    "errands:filing_decide": Route("staff"),
    "errands:chronic_decide": Route("staff"),
    # family accounts
    "family:index": Route("own", "open"),
    "family:add": Route("own", "open"),
    "family:link": Route("link"),
    "family:end": Route("link"),
    "family:document": Route("document"),
    "family:confirmations": Route("own", "open"),  # requests naming me, to confirm
    "family:confirm": Route("link"),
    "family:decline": Route("link"),
    "family:renew": Route("link"),
    "family:change": Route("link"),
    "family:document_preview": Route("staff"),
    "family:switch": Route("person", "open"),
    "family:view": Route("person", "open"),  # redirects to dashboard:member
    "family:review": Route("staff"),
    "family:decide": Route("staff"),
    "family:counter": Route("staff", "records"),
    # API
    "v1:me": Route("own", "open"),
    "v1:auth-token": Route("public"),
    "v1:balance": Route("own", "balance"),
    "v1:person-balance": Route("person", "balance"),
    "v1:family-links": Route("own", "open"),
    "v1:family-link": Route("link"),
    "v1:family-link-end": Route("link"),
    "v1:family-link-confirm": Route("link"),
    "v1:family-link-decline": Route("link"),
    "v1:family-document": Route("document"),
    "v1:family-grants": Route("own", "open"),
    "v1:family-person": Route("person", "open"),
    "v1:family-review": Route("staff"),
    "v1:family-decide": Route("staff"),
    "v1:family-counter": Route("staff", "records"),
    "v1:claims-expense-submit": Route("institution"),
    "v1:claims-expense": Route("institution"),
    "v1:claims-expense-reversal": Route("institution"),
    "v1:claims-filing-check": Route("institution"),
    "v1:payments-calculator": Route("public"),
    # the member's own access log and their own actions on others' accounts
    "audit:access_log": Route("own", "open"),
    "audit:access_log_csv": Route("own", "open"),
    "audit:own_actions": Route("own", "open"),
    # paying a linked relative's resident contribution from one's own surplus
    "payments:resident_choose": Route("own", "open"),
    "payments:resident_confirm": Route("own", "open"),
    "payments:resident_pay": Route("own", "open"),
    "payments:resident_paid": Route("own", "open"),
    # notifications: the signed-in member's own inbox, profile and choices
    "notifications:inbox": Route("own", "open"),
    "notifications:mark_read": Route("own", "open"),
    "notifications:profile": Route("own", "open"),
    "notifications:preferences": Route("own", "open"),
    "notifications:email_set": Route("own", "open"),
    "notifications:email_remove": Route("own", "open"),
    "notifications:email_confirm": Route("own", "open"),
    # password reset: shows nobody's data, says the same whoever asks
    "password_reset": Route("public"),
    "password_reset_done": Route("public"),
    "password_reset_confirm": Route("public"),
    "password_reset_complete": Route("public"),
    # staff pages
    "payments:import": Route("staff"),
    "payments:import_batch": Route("staff"),
    "payments:import_report": Route("staff"),
    "payments:correction": Route("staff"),
    "claims:batches": Route("staff"),
    "claims:settle_now": Route("staff"),
    "claims:totals": Route("staff"),
    "claims:batch": Route("staff"),
    "claims:batch_progress": Route("staff"),
    "claims:batch_csv": Route("staff"),
    "admin:*": Route("staff"),  # StaffAdminSite; person lists audited (PersonDataAdminMixin)
    # no member data
    "payments:calculator": Route("public"),
    "verify": Route("public"),  # what a certificate printed, to whoever holds its code
    "verify_code": Route("public"),
    "healthz": Route("public"),
    "metrics": Route("public"),
    "display_mode": Route("public"),
    "login": Route("public"),
    "logout": Route("public"),
    "sign_out_everywhere": Route("public"),
    "otp_verify": Route("public"),
    "otp_enroll": Route("public"),
    "password_change": Route("public"),
    "password_change_done": Route("public"),
    "set_language": Route("public"),
    "api-schema": Route("public"),
    "api-docs": Route("public"),
    # only with BENCH_ENDPOINTS=true (bench/bench_http.py)
    "bench_bare": Route("public"),
    "bench_signed_in": Route("public"),
}


def route_for(name: str) -> Route | None:
    """The table's entry for a resolved URL name (``namespace:name``)."""
    if name.startswith("admin:"):
        return ROUTES["admin:*"]
    return ROUTES.get(name)
