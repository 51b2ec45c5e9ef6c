from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """One entry of the append-only, hash-chained audit trail (ADR 0014).

    Appended without any lock, unsealed (``seq``, ``prev_hash`` and ``hash``
    empty); a short background step (``audit.services.audit_seal``) then seals
    events in order: ``seq`` is the event's place in the chain and ``hash`` =
    SHA-256 over the previous sealed event's hash and this entry's canonical
    content, so editing or deleting a sealed entry breaks every later link
    (``manage.py verify_audit``). PostgreSQL refuses DELETE and every UPDATE
    but the seal (the three chain fields set once, from empty, nothing else).
    """

    # No foreign key in the database for the actor and the person (migration
    # 0006): an event must not lock their rows. Django's PROTECT still keeps
    # a user or person with events from being deleted.
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    # Indexed by (subject_person, at) below, which also serves the person alone.
    subject_person = models.ForeignKey(
        "members.InsuredPerson",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
        db_index=False,
        db_constraint=False,
    )
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # Set once by the seal, never before (empty: appended, not sealed yet).
    # Unique once sealed: the indexes hold sealed events only (migration
    # 0007), so appending an event inserts into neither.
    seq = models.BigIntegerField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    class Meta:
        ordering = ["id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(fields=["subject_person", "at"]),
            # What the sealer looks for: the few events not sealed yet.
            models.Index(
                fields=["id"], condition=models.Q(seq__isnull=True), name="audit_event_unsealed"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["seq"], condition=models.Q(seq__isnull=False), name="audit_event_seq"
            ),
            models.UniqueConstraint(
                fields=["hash"], condition=models.Q(hash__isnull=False), name="audit_event_hash"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"
