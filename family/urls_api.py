from django.urls import path

from . import apis

urlpatterns = [
    path("links/", apis.LinkListApi.as_view(), name="family-links"),
    path("links/<int:pk>/", apis.LinkDetailApi.as_view(), name="family-link"),
    path("links/<int:pk>/end/", apis.LinkEndApi.as_view(), name="family-link-end"),
    path("links/<int:pk>/confirm/", apis.LinkConfirmApi.as_view(), name="family-link-confirm"),
    path("links/<int:pk>/decline/", apis.LinkDeclineApi.as_view(), name="family-link-decline"),
    path("links/<int:pk>/document/", apis.LinkDocumentApi.as_view(), name="family-document"),
    path("grants/", apis.GrantListApi.as_view(), name="family-grants"),
    path("persons/<int:person_id>/", apis.PersonViewApi.as_view(), name="family-person"),
    path("review/", apis.ReviewQueueApi.as_view(), name="family-review"),
    path("review/<int:pk>/", apis.ReviewDecideApi.as_view(), name="family-decide"),
    path("counter/", apis.CounterApi.as_view(), name="family-counter"),
]
