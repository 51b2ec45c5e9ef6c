"""The header's links and language list are worked out once per language
(portal.chrome) and are what ``{% url %}`` and the language tags gave."""

from django.urls import reverse
from django.utils import translation

from portal.chrome import LINKS, chrome


def test_the_header_links_are_the_reversed_routes(rf):
    with translation.override("en"):
        urls = chrome(rf.get("/"))["chrome"].urls
    assert urls == {name: reverse(route) for name, route in LINKS.items()}


def test_the_language_list_marks_the_active_language(rf):
    for active in ("en", "zh-hans"):
        with translation.override(active):
            languages = chrome(rf.get("/"))["chrome"].languages
        assert [lang["code"] for lang in languages] == ["zh-hans", "en"]
        assert [lang["code"] for lang in languages if lang["selected"]] == [active]
        assert {lang["name_local"] for lang in languages} == {"简体中文", "English"}


def test_every_header_link_is_on_a_members_page(alice, client_for):
    page = client_for(alice).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for name in ("home", "inbox", "profile", "logout", "display_mode", "set_language"):
        assert f'"{reverse(LINKS[name])}"' in page, name
    assert '<option value="en" selected>English</option>' in page
