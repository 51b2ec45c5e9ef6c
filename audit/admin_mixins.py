"""One helper for every admin page that shows person data.

``PersonDataAdminMixin`` (put it before ``admin.ModelAdmin``):

1. appends one audit event per page view naming the insured persons shown:
   the list (``admin.list``; the raw-id pop-up is the same list), one object
   (``admin.view``: the change or read-only page), the delete confirmation
   (``admin.delete_confirm``) and the history (``admin.history``). ``detail``
   holds the model, the number of rows and the persons; a model says where
   its person is with ``audit_person_attr`` (``"pk"`` for InsuredPerson
   itself, ``"person_id"`` for a contribution) or overrides
   ``audit_persons``;
2. keeps identity numbers out of URLs: a list asked for with anything shaped
   like an identity number in its query string is not run; it sends the user
   back to the plain list with a message pointing to the identity-number
   search (a POST form, ``members.admin``).
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from audit.services import audit_view
from members.idnumber import contains_id_number


def query_has_id_number(request) -> bool:
    return any(
        contains_id_number(key) or any(contains_id_number(v) for v in values)
        for key, values in request.GET.lists()
    )


class PersonDataAdminMixin:
    audit_person_attr: str = "person_id"

    def audit_persons(self, objects: list) -> Iterable[int | None]:
        """The InsuredPerson ids shown with ``objects`` (one query at most)."""
        get = attrgetter(self.audit_person_attr)
        return [get(obj) for obj in objects]

    def _audit_page(self, request, response, view: str, objects: list, target=None) -> None:
        if response.status_code != 200 or not objects:
            return
        audit_view(
            actor=request.user,
            action=f"admin.{view}",
            persons=self.audit_persons(objects),
            target=target,
            detail={"model": self.model._meta.label_lower, "rows": len(objects)},
            request=request,
        )

    @staticmethod
    def _context(response) -> dict:
        return getattr(response, "context_data", None) or {}

    def changelist_view(self, request, extra_context=None):
        if query_has_id_number(request):
            messages.error(
                request,
                _(
                    "Identity numbers are not accepted in the address (it ends up in logs). "
                    "Use the identity-number search of the insured persons list."
                ),
            )
            return redirect(request.path)
        response = super().changelist_view(request, extra_context)
        cl = self._context(response).get("cl")
        if cl is not None:
            # Evaluates the page's query once; the template reuses the rows.
            self._audit_page(request, response, "list", list(cl.result_list))
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        obj = self._context(response).get("original")
        if obj is not None:
            self._audit_page(request, response, "view", [obj], target=obj)
        return response

    def delete_view(self, request, object_id, extra_context=None):
        response = super().delete_view(request, object_id, extra_context)
        obj = self._context(response).get("object")
        if obj is not None:
            self._audit_page(request, response, "delete_confirm", [obj], target=obj)
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        obj = self._context(response).get("object")
        if obj is not None:
            self._audit_page(request, response, "history", [obj], target=obj)
        return response
