from django.urls import path

from . import apis

urlpatterns = [
    path("balance/", apis.OwnBalanceApi.as_view(), name="balance"),
    path("<int:person_id>/balance/", apis.PersonBalanceApi.as_view(), name="person-balance"),
]
