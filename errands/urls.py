from django.urls import path

from . import views

app_name = "errands"

urlpatterns = [
    path("", views.index, name="index"),
    path("filing/new/", views.filing_new, name="filing_new"),
    path("filing/<int:pk>/", views.filing_detail, name="filing"),
    path("filing/<int:pk>/document/", views.filing_document, name="filing_document"),
    path("chronic/new/", views.chronic_new, name="chronic_new"),
    path("chronic/<int:pk>/", views.chronic_detail, name="chronic"),
    path("chronic/<int:pk>/document/", views.chronic_document, name="chronic_document"),
    path("review/filing/<int:pk>/", views.filing_decide, name="filing_decide"),
    path("review/chronic/<int:pk>/", views.chronic_decide, name="chronic_decide"),
]
