from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="index"),
    path("<int:person_id>/", views.member_dashboard, name="member"),
    path("records/", views.records, name="records"),
    path("ledger/", views.ledger, name="ledger"),
    path("records.csv", views.records_csv, name="records_csv"),
    path("summary/", views.summary, name="summary"),
    path("certificate/", views.certificate, name="certificate"),
    path("certificate.pdf", views.certificate_pdf, name="certificate_pdf"),
    path("insurance-certificate/", views.insurance_certificate, name="insurance_certificate"),
    path(
        "insurance-certificate.pdf",
        views.insurance_certificate_pdf,
        name="insurance_certificate_pdf",
    ),
    path("ecert/", views.ecert, name="ecert"),
    path("ecert/<int:person_id>/token", views.ecert_token, name="ecert_token"),
]
