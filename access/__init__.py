"""The one access layer: every decision about who may see or do what with a
person's data is made here (docs/adr/0012-one-access-layer.md).

- ``access.viewer``: who asks (``viewer_for(request)``, built once per request);
- ``access.rules``: pure predicates (``is_verified_staff``, ``pay_eligible``);
- ``access.lookups``: look-ups that return the object together with what the
  viewer may do with it (``person_access``, ``link_access``, ``document_access``,
  the e-certificate subjects, the links that let a patient pay);
- ``access.routes``: every person-scoped route and the scope it needs.
"""
