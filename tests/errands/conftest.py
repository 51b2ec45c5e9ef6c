"""Errands fixtures: private storage in a temporary folder, the policy data
for this year, the claims fixtures (institutions, policies, the API client)."""

import pytest
from django.utils import timezone

from tests.claims.conftest import hospital, institution_api, make_policies  # noqa: F401


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return settings.PRIVATE_MEDIA_ROOT


@pytest.fixture(autouse=True)
def errands_policy_data(db):
    """The data migration loads 2022-2026; tests use this year's."""
    from errands import policy_data

    policy_data.load_current()
    policy_data.load(
        disease_model=__import__("errands.models").models.ChronicDisease,
        chronic_policy_model=__import__("errands.models").models.ChronicDiseasePolicy,
        cross_policy_model=__import__("errands.models").models.CrossRegionPolicy,
        years=[timezone.localdate().year],
    )


@pytest.fixture
def this_year_policies(db):
    make_policies(timezone.localdate().year)


@pytest.fixture
def shanghai_hospital(db):
    from claims.services import institution_create, institution_token_create

    inst = institution_create(name="Shanghai Hospital", kind="hospital", region="310104")
    _token, raw = institution_token_create(institution=inst)
    inst.raw_token = raw
    return inst
