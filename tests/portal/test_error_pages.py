"""400, 403, 404 and 500: pages in the portal's layout in both languages, the
one error shape on API paths, and a 500 page that needs nothing that failed."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.utils import translation

from portal import error_pages


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "heading", "hotline"),
    [
        ("zh-hans", "页面不存在", "12393"),
        ("en", "Page not found", "12393"),
    ],
)
def test_an_unknown_page_is_a_translated_page_in_the_layout(client, language, heading, hotline):
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 404
    html = response.content.decode()
    assert f"<h1>{heading}</h1>" in html
    assert 'class="site-header"' in html  # the portal's layout
    assert 'data-testid="error-page"' in html
    assert hotline in html
    assert "12333" not in html


@pytest.mark.django_db
def test_a_signed_in_member_keeps_the_navigation_on_a_404(client_for, alice):
    response = client_for(alice).get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 404
    assert "Sign out" in response.content.decode()


@pytest.mark.django_db
def test_an_unknown_api_path_answers_in_the_one_error_shape(client):
    response = client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "未找到。", "fields": {}}}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("handler", "status", "heading_en", "heading_zh"),
    [
        (error_pages.bad_request, 400, "The request could not be read", "无法读取此请求"),
        (error_pages.permission_denied, 403, "You cannot open this page", "您无法打开此页面"),
    ],
)
def test_400_and_403_pages(rf: RequestFactory, handler, status, heading_en, heading_zh):
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/family/")
    request.user = AnonymousUser()
    for language, heading in (("en", heading_en), ("zh-hans", heading_zh)):
        with translation.override(language):
            response = handler(request, Exception("x"))
        assert response.status_code == status
        assert f"<h1>{heading}</h1>" in response.content.decode()


@pytest.mark.django_db
def test_400_and_403_on_api_paths_keep_the_error_shape(rf: RequestFactory):
    request = rf.get("/api/v1/me/")
    with translation.override("en"):
        assert error_pages.bad_request(request).status_code == 400
        response = error_pages.permission_denied(request)
    assert response.status_code == 403
    assert b'"code": "permission_denied"' in response.content


def test_the_500_page_renders_without_request_user_or_database(rf: RequestFactory):
    # no django_db mark: touching the database here would fail the test
    request = rf.get("/dashboard/")
    for language, heading in (("en", "Something went wrong"), ("zh-hans", "出错了")):
        with translation.override(language):
            response = error_pages.server_error(request)
        assert response.status_code == 500
        html = response.content.decode()
        assert f"<h1>{heading}</h1>" in html
        assert 'class="site-header"' in html


def test_a_500_on_an_api_path_answers_in_the_one_error_shape(rf: RequestFactory):
    with translation.override("en"):
        response = error_pages.server_error(rf.get("/api/v1/me/"))

    assert response.status_code == 500
    assert b'"code": "server_error"' in response.content
