from django.urls import path

from . import views

app_name = "claims"

urlpatterns = [
    path("", views.batch_list, name="batches"),
    path("settle/", views.settle_now, name="settle_now"),
    path("totals/", views.institution_totals, name="totals"),
    path("<int:batch_id>/", views.batch_detail, name="batch"),
    path("<int:batch_id>/progress.json", views.batch_progress, name="batch_progress"),
    path("<int:batch_id>/expenses.csv", views.batch_csv, name="batch_csv"),
]
