"""Gunicorn configuration for the portal (production and `make serve-prod`).

Every knob comes from the environment so one file serves every machine:
GUNICORN_BIND, GUNICORN_WORKERS, GUNICORN_THREADS, GUNICORN_TIMEOUT,
GUNICORN_GRACEFUL_TIMEOUT, GUNICORN_KEEPALIVE, GUNICORN_MAX_REQUESTS.

The access log is one JSON object per line with the method, the PATH ONLY
(never the query string, which may carry an identity number; any identity
number in the path itself is masked), the status, the size, the time taken and
the request id (the X-Request-ID response header set by
portal.observability.RequestIdMiddleware). No client address, no user agent.
"""

from __future__ import annotations

import json
import os
import re

from gunicorn.glogging import Logger


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
# Sync workers plus threads: the portal is database-bound, threads share a
# worker's memory. Default: 2 per core + 1 workers, 4 threads each.
workers = _int("GUNICORN_WORKERS", 2 * (os.cpu_count() or 1) + 1)
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
# A request that takes longer than this is killed (and logged); settlement and
# imports of large files run in Celery, not in a request.
timeout = _int("GUNICORN_TIMEOUT", 30)
# On SIGTERM (systemd stop, deploy) workers finish their requests for this long.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then so slow leaks never matter; jitter spreads restarts.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 10
# Application loaded once in the master, then forked: faster start, less memory.
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() == "true"
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "portal-web"

_ID_NUMBER = re.compile(r"\d{17}[\dXx]")


class AccessLogger(Logger):
    """JSON access lines: path without query string, identity numbers masked."""

    def access(self, resp, req, environ, request_time):
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.syslog):
            return
        headers = dict(resp.headers) if resp.headers else {}
        request_id = next(
            (v for k, v in headers.items() if k.lower() == "x-request-id"),
            None,
        )
        line = {
            "event": "access",
            "method": environ.get("REQUEST_METHOD"),
            "path": _ID_NUMBER.sub("[id-number]", environ.get("PATH_INFO", "")),
            "status": resp.status_code if hasattr(resp, "status_code") else resp.status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "request_id": request_id,
        }
        try:
            self.access_log.info(json.dumps(line))
        except Exception:
            self.exception("Failed to log the access line")


logger_class = AccessLogger


# --- Prometheus multiprocess mode (docs/operating.md) -------------------------
# With several workers each keeps its own counters; prometheus_client adds them
# up from files under PROMETHEUS_MULTIPROC_DIR. The directory must exist and be
# empty before the master starts (scripts/serve-prod and the systemd unit's
# ExecStartPre empty it); a dead worker's files are marked here.
def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
