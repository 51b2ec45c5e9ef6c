from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("messages/", views.inbox, name="inbox"),
    path("messages/read/", views.mark_read, name="mark_read"),
    path("profile/", views.profile, name="profile"),
    path("profile/email/", views.email_set, name="email_set"),
    path("profile/email/remove/", views.email_remove, name="email_remove"),
    path("profile/notifications/", views.preferences_save, name="preferences"),
    path("profile/email/confirm/<str:token>/", views.email_confirm, name="email_confirm"),
]
