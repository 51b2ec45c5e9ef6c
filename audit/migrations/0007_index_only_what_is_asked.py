"""An appended event goes into the indexes that find it, and no others
(issue 16, ADR 0014).

- ``seq`` and ``hash`` are unique among sealed events, as before, but their
  indexes now hold sealed events only (partial, ``IS NOT NULL``). Appending
  an event wrote an empty entry into both; the seal then wrote the real one.
  The chain's head and ``verify_audit`` read sealed events only, so they use
  the same indexes.
- The GIN index over ``detail`` holds only the events whose detail the access
  log searches: the list pages' ``persons`` and the payments' ``relative``
  (``audit.selectors._detail_has`` asks ``detail ? key`` beside ``@>`` so
  PostgreSQL can use it). A relative's view of one account names the account
  in ``subject_person`` and never went through this index, but paid for an
  entry in it on every request.
"""

from django.db import migrations, models

DETAIL_PARTIAL = (
    "CREATE INDEX IF NOT EXISTS audit_detail_gin ON audit_auditevent"
    " USING gin (detail jsonb_path_ops)"
    " WHERE (detail ? 'persons' OR detail ? 'relative')"
)
DETAIL_WHOLE = (
    "CREATE INDEX IF NOT EXISTS audit_detail_gin ON audit_auditevent"
    " USING gin (detail jsonb_path_ops)"
)


def detail_partial(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS audit_detail_gin")
        schema_editor.execute(DETAIL_PARTIAL)


def detail_whole(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS audit_detail_gin")
        schema_editor.execute(DETAIL_WHOLE)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_an_event_locks_nothing")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(seq__isnull=False), fields=("seq",), name="audit_event_seq"
            ),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(hash__isnull=False), fields=("hash",), name="audit_event_hash"
            ),
        ),
        migrations.RunPython(detail_partial, detail_whole, elidable=False),
    ]
