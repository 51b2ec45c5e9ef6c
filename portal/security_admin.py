"""Installs ``portal.security.StaffAdminSite`` as the default admin site.

Listed in INSTALLED_APPS instead of ``django.contrib.admin``; kept in its own
module because app configs are imported before models are ready.
"""

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    default_site = "portal.security.StaffAdminSite"
