"""The member's access log: who saw or used my account, and what I did on
others' accounts (docs/adr/0018). Thin: the signed-in member only, filters
from the query string, one selector, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from members.selectors import person_for_user
from portal.csvsafe import csv_writer

from . import selectors

PAGE_SIZE = 50
CSV_CHUNK = 500


def _own_person(request):
    person = person_for_user(request.user)
    if person is None:  # staff and users without an insured person: nothing to show
        raise Http404
    return person


@login_required
@never_cache
@require_GET
def access_log(request):
    person = _own_person(request)
    filters = selectors.parse_filters(request.GET)
    entries, next_cursor = selectors.access_log(
        person, filters=filters, after=request.GET.get("after"), limit=PAGE_SIZE
    )
    return render(
        request,
        "audit/access_log.html",
        {
            "entries": entries,
            "next_cursor": next_cursor,
            "paged": bool(request.GET.get("after")),
            "filters": filters,
            "query": filters.query(),
            "who_choices": selectors.who_choices(person),
        },
    )


class _Echo:
    def write(self, value):
        return value


@login_required
@never_cache
@require_GET
def access_log_csv(request):
    """The whole filtered log as CSV, streamed page by page (every cell
    through portal.csvsafe)."""
    person = _own_person(request)
    filters = selectors.parse_filters(request.GET)
    writer = csv_writer(_Echo())

    def rows():
        yield "\ufeff"  # so spreadsheet programs read UTF-8
        yield writer.writerow([_("Time"), _("Who"), _("What"), _("Grant"), _("Event")])
        after = None
        while True:
            entries, after = selectors.access_log(
                person, filters=filters, after=after, limit=CSV_CHUNK
            )
            for e in entries:
                yield writer.writerow(
                    [
                        timezone.localtime(e.at).strftime("%Y-%m-%d %H:%M:%S"),
                        e.who,
                        e.what,
                        e.grant,
                        e.id,
                    ]
                )
            if after is None:
                return

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="access-log.csv"'
    return response


@login_required
@never_cache
@require_GET
def own_actions(request):
    person = _own_person(request)
    entries, next_cursor = selectors.own_actions(
        person, request.user, after=request.GET.get("after"), limit=PAGE_SIZE
    )
    return render(
        request,
        "audit/own_actions.html",
        {
            "entries": entries,
            "next_cursor": next_cursor,
            "paged": bool(request.GET.get("after")),
        },
    )
