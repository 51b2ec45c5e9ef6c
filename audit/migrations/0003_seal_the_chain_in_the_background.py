"""Audit without a global lock (issue 16, ADR 0014).

Events are appended unsealed (``seq``, ``prev_hash``, ``hash`` NULL) with no
lock; ``audit.services.audit_seal`` seals them in order later. Existing events
were chained in id order under the old advisory lock: they get ``seq`` = their
rank by id, and keep their hashes (the formula is unchanged).

PostgreSQL: the row trigger now refuses every DELETE, an INSERT of an event
already sealed, and every UPDATE except the seal: the three chain fields set
from NULL to values, nothing else changed. (TRUNCATE keeps the shared
append-only guard of ``portal.db``; the row guard has its own function, so a
later migration rewriting every ``*_append_only`` function leaves it alone.)
"""

from django.conf import settings
from django.db import migrations, models

BACKFILL = """
UPDATE audit_auditevent SET seq = r.rn
  FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM audit_auditevent) r
 WHERE audit_auditevent.id = r.id
"""

SEAL_ONLY_FWD = """
DROP TRIGGER IF EXISTS audit_auditevent_no_update ON audit_auditevent;
CREATE OR REPLACE FUNCTION audit_auditevent_seal_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.seq IS NULL AND NEW.prev_hash IS NULL AND NEW.hash IS NULL THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_auditevent is append-only: events are appended unsealed'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF TG_OP = 'UPDATE'
     AND OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
     AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
     AND (NEW.id, NEW.at, NEW.actor_id, NEW.actor_label, NEW.action, NEW.subject_person_id,
          NEW.object_type, NEW.object_id, NEW.detail, NEW.ip_address)
         IS NOT DISTINCT FROM
         (OLD.id, OLD.at, OLD.actor_id, OLD.actor_label, OLD.action, OLD.subject_person_id,
          OLD.object_type, OLD.object_id, OLD.detail, OLD.ip_address)
  THEN
    RETURN NEW;  -- the seal
  END IF;
  RAISE EXCEPTION 'audit_auditevent is append-only (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_auditevent_seal_only BEFORE INSERT OR UPDATE OR DELETE ON audit_auditevent
  FOR EACH ROW EXECUTE FUNCTION audit_auditevent_seal_only();
"""
SEAL_ONLY_REV = """
DROP TRIGGER IF EXISTS audit_auditevent_seal_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_auditevent_seal_only();
CREATE TRIGGER audit_auditevent_no_update BEFORE UPDATE OR DELETE ON audit_auditevent
  FOR EACH ROW EXECUTE FUNCTION audit_auditevent_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_auditevent_no_update ON audit_auditevent")
    schema_editor.execute(BACKFILL)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SEAL_ONLY_FWD, params=None)


def reverse(apps, schema_editor):
    # Seal first (manage.py verify_audit): the old schema has no unsealed event.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SEAL_ONLY_REV, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only"),
        ("members", "0004_staff_enrolment_codes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(blank=True, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(blank=True, max_length=64, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("seq__isnull", True)),
                fields=["id"],
                name="audit_event_unsealed",
            ),
        ),
        migrations.RunPython(forward, reverse),
    ]
