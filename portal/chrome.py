"""What every page's header shows that is the same for everyone: the links
and the language list, worked out once per language (and URL prefix) instead
of once per page (issue 16: eight ``{% url %}`` tags and the language list
were about a quarter of ``base.html``'s time).

``base.html`` reads them as ``{{ chrome.urls.home }}`` and
``chrome.languages``; anything per request (the CSRF tokens, the unread
count, the current path) stays in the template.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.translation import get_language, get_language_info

# The header's links, by the template name they are read under.
LINKS = {
    "home": "home",
    "inbox": "notifications:inbox",
    "profile": "notifications:profile",
    "password_change": "password_change",
    "logout": "logout",
    "display_mode": "display_mode",
    "set_language": "set_language",
}


class Chrome:
    def __init__(self, urls: dict[str, str], languages: list[dict]):
        self.urls = urls
        self.languages = languages


@cache
def _chrome(prefix: str, urlconf: str | None, language: str) -> Chrome:
    urls = {name: reverse(route) for name, route in LINKS.items()}
    languages = [
        {
            "code": code,
            "name_local": get_language_info(code)["name_local"],
            "selected": code == language,
        }
        for code, _name in settings.LANGUAGES
    ]
    return Chrome(urls, languages)


def chrome(request) -> dict:
    """Template context processor: ``chrome``."""
    return {"chrome": _chrome(get_script_prefix(), get_urlconf(), get_language())}
