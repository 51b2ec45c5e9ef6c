from django.urls import path

from . import security_views

urlpatterns = [
    path("", security_views.otp_verify, name="otp_verify"),
    path("enroll/", security_views.otp_enroll, name="otp_enroll"),
]
