from django.urls import path

from . import views

app_name = "family"

urlpatterns = [
    path("", views.index, name="index"),
    path("add/", views.add, name="add"),
    path("links/<int:pk>/", views.link_detail, name="link"),
    path("links/<int:pk>/end/", views.link_end, name="end"),
    path("links/<int:pk>/confirm/", views.link_confirm, name="confirm"),
    path("links/<int:pk>/decline/", views.link_decline, name="decline"),
    path("links/<int:pk>/renew/", views.link_renew, name="renew"),
    path("links/<int:pk>/change/", views.link_change, name="change"),
    path("confirmations/", views.confirmations, name="confirmations"),
    path("links/<int:pk>/document/", views.document, name="document"),
    path("links/<int:pk>/document/preview/", views.document_preview, name="document_preview"),
    path("switch/", views.switch, name="switch"),
    path("view/<int:person_id>/", views.view_member, name="view"),
    path("review/", views.review_queue, name="review"),
    path("review/<int:pk>/", views.review_decide, name="decide"),
    path("counter/", views.counter, name="counter"),
]
