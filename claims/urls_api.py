from django.urls import path

from . import apis

urlpatterns = [
    path("expenses/", apis.ExpenseSubmitApi.as_view(), name="claims-expense-submit"),
    path("expenses/<int:expense_id>/", apis.ExpenseDetailApi.as_view(), name="claims-expense"),
    path("filing-check/", apis.FilingCheckApi.as_view(), name="claims-filing-check"),
    path(
        "expenses/<int:expense_id>/reversal/",
        apis.ExpenseReversalApi.as_view(),
        name="claims-expense-reversal",
    ),
]
