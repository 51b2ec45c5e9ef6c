"""The Celery application.

With no broker configured (the embedded default), settings turn on
``task_always_eager`` so tasks run in-process; with REDIS_URL or
CELERY_BROKER_URL set, a real worker consumes them (``make worker``).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# --- Operations (issue 17): JSON logs with the request id in workers, and
# task metrics. Kept apart from the schedule above to ease merges.
from portal.celery_ops import connect as _connect_ops  # noqa: E402

_connect_ops(app)
