"""Every audited access inserts an event into each of the table's indexes
(issue 16): two of them never answered a query. The person's own index
duplicates the first column of (subject_person, at); the pattern index
PostgreSQL gets for the unique ``hash`` serves LIKE, which nothing asks of a
hash (equality uses the unique index)."""

import django.db.models.deletion
from django.db import migrations, models

DROP_HASH_LIKE = """
DO $$
DECLARE name text;
BEGIN
  FOR name IN SELECT indexname FROM pg_indexes
      WHERE tablename = 'audit_auditevent' AND indexdef LIKE '%(hash varchar_pattern_ops)%'
  LOOP
    EXECUTE format('DROP INDEX %I', name);
  END LOOP;
END $$;
"""
HASH_LIKE = (
    "CREATE INDEX IF NOT EXISTS audit_auditevent_hash_like"
    " ON audit_auditevent (hash varchar_pattern_ops)"
)


def drop_hash_like(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_HASH_LIKE, params=None)


def restore_hash_like(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(HASH_LIKE)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0004_merge_access_log_index_and_sealing'),
        ('members', '0004_staff_enrolment_codes'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='subject_person',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='audit_events', to='members.insuredperson'),
        ),
        migrations.RunPython(drop_hash_like, restore_hash_like, elidable=False),
    ]
