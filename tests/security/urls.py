"""The portal's URLs plus one page and one endpoint behind the staff gate."""

from django.http import HttpResponse
from django.urls import path
from django.views import View
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.security import IsVerifiedStaff, StaffRequiredMixin, staff_required
from portal.urls import urlpatterns as portal_urlpatterns


@staff_required
def staff_page(request):
    return HttpResponse("staff page")


class StaffClassPage(StaffRequiredMixin, View):
    def get(self, request):
        return HttpResponse("staff class page")


class StaffApi(APIView):
    permission_classes = [IsVerifiedStaff]

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("staff/test-page/", staff_page),
    path("staff/test-class-page/", StaffClassPage.as_view()),
    path("api/v1/staff/test/", StaffApi.as_view()),
    *portal_urlpatterns,
]
