"""How errands change the split of an expense (docs/adr/0019-member-errands.md).

``adjust_terms`` takes the home policy's terms for the patient and returns the
terms, benefit pool and basis that apply:

1. Chronic or special outpatient disease: an expense the institution tags
   with a disease code (``chronic_disease``), of outpatient or pharmacy care,
   on a date within an approved application for that disease, is split with
   that disease's own outpatient policy (deductible, ratio, ceiling) in its
   own benefit pool (``mt:<code>``). A tag without such an application keeps
   the ordinary policy, and the reason says so.
2. Cross-region care: when the institution's city (the first four digits of
   its region code) is not the patient's insured city, the ratio loses the
   percentage points of the home region's ``CrossRegionPolicy``: the filed
   cut when the patient holds a filing for that city valid on the date, the
   unfiled cut otherwise.
"""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

from members.models import InsuredPerson
from members.regions import region_name
from portal.errors import ApplicationError
from portal.money import format_yuan

from . import selectors
from .models import ChronicDisease, ChronicDiseasePolicy

CHRONIC_CARE_TYPES = ("outpatient", "pharmacy")


def _percent(rate) -> str:
    from claims.split import percent

    return percent(rate)


def same_city(a: str, b: str) -> bool:
    return (a or "")[:4] == (b or "")[:4]


def chronic_disease_for_tag(code: str, care_type: str) -> ChronicDisease | None:
    """The disease an expense is tagged with, or None; a bad tag is refused."""
    code = (code or "").strip().upper()
    if not code:
        return None
    disease = ChronicDisease.objects.filter(code=code).first()
    if disease is None:
        raise ApplicationError(
            _("Unknown chronic disease code."),
            code="unknown_disease",
            fields={"chronic_disease": [_("Not a disease of the list.")]},
        )
    if care_type not in CHRONIC_CARE_TYPES:
        raise ApplicationError(
            _("Only outpatient care and pharmacy purchases can be tagged with a chronic disease."),
            code="chronic_care_type",
            fields={"chronic_disease": [_("Not for this care type.")]},
        )
    return disease


def adjust_terms(
    *,
    patient: InsuredPerson,
    home_region: str,
    institution_region: str,
    service_date: dt.date,
    care_type: str,
    chronic_code: str,
    terms,
    pool: str,
):
    """(terms, pool, basis) for this expense; ``basis`` is stored with it."""
    basis: dict = {}
    disease = chronic_disease_for_tag(chronic_code, care_type)
    if disease is not None:
        basis["chronic_disease"] = disease.code
        application = selectors.approved_chronic_application(patient, disease, service_date)
        policy = None
        if application is not None:
            policy = ChronicDiseasePolicy.objects.filter(
                disease=disease, region=home_region, year=service_date.year
            ).first()
        if policy is None:
            basis["chronic_applied"] = False
            terms = terms.with_note("chronic_not_approved", {"disease": disease.name})
        else:
            basis["chronic_applied"] = True
            basis["chronic_application"] = application.pk
            terms = terms.with_note(
                "chronic",
                {
                    "disease": disease.name,
                    "deductible": format_yuan(policy.deductible_fen),
                    "ratio": _percent(policy.ratio),
                },
                deductible_fen=policy.deductible_fen,
                ratio=policy.ratio,
                ceiling_fen=policy.ceiling_fen,
            )
            pool = f"mt:{disease.code}"
    if not same_city(institution_region, patient.insured_region):
        cross = selectors.cross_region_terms(patient, institution_region, service_date, home_region)
        filed = cross.filing_id is not None
        cut = (cross.filed_ratio_cut if filed else cross.unfiled_ratio_cut) or 0
        home_ratio = terms.ratio
        ratio = max(home_ratio - cut, 0)
        basis.update(cross_region=True, filed=filed)
        if filed:
            basis["filing"] = cross.filing_id
        terms = terms.with_note(
            "cross_region_filed" if filed else "cross_region_unfiled",
            {
                "place": region_name(institution_region),
                "ratio": _percent(ratio),
                "home": _percent(home_ratio),
            },
            ratio=ratio,
        )
    return terms, pool, basis
