"""The errands scope on family links: asked for on the add form, granted
alone, held through the access layer like the other scopes."""

from access.rules import Scope
from family.models import LinkStatus
from tests.conftest import can_view
from tests.dashboard.helpers import link


def test_add_form_offers_the_errands_scope(alice, client_for):
    page = client_for(alice).get("/family/add/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'name="scope_errands"' in page
    assert "Run errands for me" in page


def test_errands_scope_alone_grants_errands_and_nothing_else(alice, bob):
    granted = link(alice, bob, balance=False, records=False, errands=True)
    assert granted.scopes() == ["errands"]
    assert can_view(bob.user, alice, Scope.ERRANDS)
    assert not can_view(bob.user, alice, Scope.RECORDS)
    assert not can_view(bob.user, alice, Scope.BALANCE)


def test_ending_the_link_ends_the_errands_scope(alice, bob):
    link(alice, bob, balance=False, records=False, errands=True, status=LinkStatus.ENDED)
    assert not can_view(bob.user, alice, Scope.ERRANDS)


def test_home_card_links_to_the_members_errands(alice, bob, client_for):
    link(alice, bob, balance=False, records=False, errands=True)
    page = client_for(bob).get("/").content.decode()
    assert f'href="/errands/?person={alice.pk}"' in page
