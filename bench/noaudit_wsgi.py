"""The portal with the audit trail switched off: bench only.

``bench/bench_walls.py`` serves the same relative's view from this module and
from ``portal.wsgi`` at once, to measure what auditing costs (issue 16: an
audited view at least 0.8 x the same view without audit). Never deployed:
nothing outside ``bench/`` imports it, and it exists so that no switch in the
portal itself can turn auditing off.
"""

from importlib import import_module

from portal.wsgi import application

# Only now (Django is set up by portal.wsgi): the access layer records a
# non-owner's view (PersonAccess.audit) through this name.
_lookups = import_module("access.lookups")
_lookups.audit_record = lambda **kwargs: None
_lookups.audit_record_many = lambda **kwargs: []
# ... and no view recorded by a relative's link look-up itself (it records
# none of the scopes, so ``audit``, switched off above, would).
_lookups._RECORDED_IN_LOOKUP = {}

__all__ = ["application"]
