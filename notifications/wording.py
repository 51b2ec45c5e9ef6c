"""What a notification says, in the reader's language (chosen when shown or
sent, not when derived: the params are stored, the words are not)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from portal.money import format_yuan

from .models import EventType

SCOPE_WORDS = {
    "balance": lambda: _("your balance"),
    "records": lambda: _("your payment record and expenses"),
    "id_number": lambda: _("your identity number"),
}


def _viewer(params: dict) -> str:
    if params.get("staff"):
        return _("Staff of the insurance agency")
    return params.get("viewer") or _("Someone")


def _family(action: str, params: dict) -> tuple[str, str]:
    """(title, text) of a family link event, for the member or the relative."""
    member = params.get("member", "")
    relative = params.get("relative", "")
    as_member = params.get("role") == "member"
    reason = params.get("reason", "")
    words = {
        "family.link.request": (
            _("Family link requested"),
            _("You asked to link %(relative)s to your account; staff will review it.")
            if as_member
            else _("%(member)s asked to link you to their medical insurance account."),
        ),
        "family.link.approve": (
            _("Family link approved"),
            _("Your request to link %(relative)s to your account was approved.")
            if as_member
            else _("The link to %(member)s's account was approved."),
        ),
        "family.link.reject": (
            _("Family link rejected"),
            (
                _("Your request to link %(relative)s to your account was rejected.")
                if as_member
                else _("The link to %(member)s's account was rejected.")
            )
            + (" " + _("Reason: %(reason)s") if reason else ""),
        ),
        "family.link.confirm": (
            _("Family link confirmed"),
            _("%(relative)s confirmed the link to your account.")
            if as_member
            else _("You confirmed the link to %(member)s's account."),
        ),
        "family.link.change": (
            _("Family link changed"),
            _("You changed what %(relative)s may do with your account.")
            if as_member
            else _("%(member)s changed what you may do with their account."),
        ),
        "family.link.renew": (
            _("Family link renewed"),
            _("The link with %(relative)s was renewed.")
            if as_member
            else _("The link to %(member)s's account was renewed."),
        ),
        "family.link.expiry_reminder": (
            _("Family link ends soon"),
            _("The link with %(relative)s ends soon; renew it on the family page to keep it.")
            if as_member
            else _("The link to %(member)s's account ends soon."),
        ),
        "family.link.expired": (
            _("Family link expired"),
            _("The link with %(relative)s has expired; they no longer see your account.")
            if as_member
            else _("The link to %(member)s's account has expired."),
        ),
        "family.link.revoke": (
            _("Family link ended"),
            _("You ended the link with %(relative)s.")
            if as_member
            else _("%(member)s ended the link to their account."),
        ),
        "family.link.leave": (
            _("Family link ended"),
            _("%(relative)s left the link to your account.")
            if as_member
            else _("You left the link to %(member)s's account."),
        ),
        "family.contribution.pay": (
            _("Contribution paid by a relative"),
            _("You paid %(amount)s yuan of %(relative)s's resident contribution.")
            if as_member
            else _("%(member)s paid %(amount)s yuan of your resident contribution."),
        ),
    }
    title, text = words.get(action, (_("Family link"), _("A family link changed.")))
    values = {
        "member": member,
        "relative": relative,
        "reason": reason,
        "amount": format_yuan(params.get("amount_fen")),
    }
    return title, text % values


def render(event_type: str, action: str, params: dict) -> tuple[str, str]:
    """(title, text) of one notification."""
    amount = format_yuan(params.get("amount_fen"))
    if event_type == EventType.CREDIT:
        return _("Money in"), _("%(amount)s yuan was paid into your personal account.") % {
            "amount": amount
        }
    if event_type == EventType.PAYMENT:
        return _("Payment"), _("%(amount)s yuan was paid from your personal account.") % {
            "amount": amount
        }
    if event_type == EventType.RELATIVE_PAYMENT:
        return _("Paid for a relative"), _(
            "%(amount)s yuan was paid from your prior-years surplus for %(relative)s."
        ) % {"amount": amount, "relative": params.get("relative", "")}
    if event_type == EventType.ROLLOVER:
        return _("Year-end rollover"), _(
            "Year-end rollover %(year)s: %(amount)s yuan moved from current-year funds "
            "to the prior-years surplus."
        ) % {"amount": amount, "year": params.get("year", "")}
    if event_type == EventType.VIEW:
        what = SCOPE_WORDS.get(params.get("scope", ""), lambda: _("your account"))()
        return _("Your account was viewed"), _("%(viewer)s viewed %(what)s.") % {
            "viewer": _viewer(params),
            "what": what,
        }
    if event_type == EventType.FAMILY:
        return _family(action, params)
    return _("Notice"), ""
