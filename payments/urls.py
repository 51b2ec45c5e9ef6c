from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("calculator/", views.calculator, name="calculator"),
    path("import/", views.import_upload, name="import"),
    path("import/<int:pk>/", views.import_batch, name="import_batch"),
    path("import/<int:pk>/report.csv", views.import_report, name="import_report"),
    path("corrections/", views.correction, name="correction"),
    path("family-contribution/", views.resident_choose, name="resident_choose"),
    path("family-contribution/confirm/", views.resident_confirm, name="resident_confirm"),
    path("family-contribution/pay/", views.resident_pay, name="resident_pay"),
    path("family-contribution/<int:pk>/", views.resident_paid, name="resident_paid"),
]
