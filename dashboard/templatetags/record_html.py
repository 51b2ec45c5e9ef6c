"""``{{ rows|contribution_rows }}`` and ``{{ expenses|expense_articles }}``:
the payment record page's rows, built in Python (dashboard/record_html.py)."""

from django import template

from dashboard import record_html

register = template.Library()
register.filter("contribution_rows", record_html.contribution_rows, is_safe=True)
register.filter("expense_articles", record_html.expense_articles, is_safe=True)
register.filter("latest_contribution_rows", record_html.latest_contribution_rows, is_safe=True)
register.filter("latest_expense_rows", record_html.latest_expense_rows, is_safe=True)
