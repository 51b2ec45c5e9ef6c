"""The add-a-relative page: every problem of the form at once, and a chosen
file that survives a refused submit."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from family import services
from family.models import FamilyLink, LinkStatus

from . import files
from .conftest import stored_files


def _post(client, **fields):
    data = {
        "agree": "on",
        "agreement_version": services.AGREEMENT_VERSION,
        "relationship": "spouse",
        "scope_balance": "on",
        "document_kind": "commitment_letter",
    }
    data.update(fields)
    return client.post(
        "/family/add/", {k: v for k, v in data.items() if v is not None}, HTTP_ACCEPT_LANGUAGE="en"
    )


def test_an_empty_submit_reports_every_problem_at_once(alice, client_for):
    response = client_for(alice).post(
        "/family/add/",
        {"agreement_version": services.AGREEMENT_VERSION},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert sorted(errors) == [
        "agree",
        "document",
        "document_kind",
        "id_number",
        "name",
        "relationship",
        "scope_balance",
    ]
    body = response.content.decode()
    for name in errors:
        assert f'data-testid="error-{name}"' in body
    assert not FamilyLink.objects.exists()


def test_a_chosen_file_survives_a_refused_submit_and_is_used_next(
    alice, bob, client_for, private_media
):
    member = client_for(alice)
    letter = files.png()

    # given: a good file, but a typo in the name (the register check refuses)
    refused = _post(
        member,
        name="Bobb",
        id_number=bob.id_number,
        document=SimpleUploadedFile("letter.png", letter, "image/png"),
    )

    assert refused.status_code == 400
    assert b'data-testid="kept-document"' in refused.content
    assert "letter.png" in refused.content.decode()
    assert not FamilyLink.objects.exists()

    # when: the name is corrected and no file is chosen again
    sent = _post(member, name=bob.name, id_number=bob.id_number)

    # then: the kept file went with the request, and is no longer kept
    assert sent.status_code == 302
    link = FamilyLink.objects.get()
    assert link.status == LinkStatus.PENDING
    assert link.document_type == "image/png"
    assert stored_files(private_media) == [link.document_name]
    assert "family_kept_document" not in member.session


def test_a_refused_file_is_not_kept(alice, bob, client_for, private_media):
    member = client_for(alice)

    refused = _post(
        member,
        name=bob.name,
        id_number=bob.id_number,
        document=SimpleUploadedFile("x.png", b"MZ" + b"\0" * 100, "image/png"),
    )
    again = _post(member, name=bob.name, id_number=bob.id_number)

    assert refused.status_code == 400 and again.status_code == 400
    assert b'data-testid="kept-document"' not in again.content
    assert "document" in again.context["form"].errors
    assert stored_files(private_media) == []
    assert not FamilyLink.objects.exists()
