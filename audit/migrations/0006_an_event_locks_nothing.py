"""An audited view writes one event and nothing else (issue 16, ADR 0014).

- The actor and the person recorded are no longer foreign keys in the
  database. A foreign key makes every INSERT of an event lock the user's row
  and the person's row (``FOR KEY SHARE``): a relative reading a member's page
  wrote to that member's row and to their own, and waited on anyone holding
  them. Django still refuses to delete a user or person with events
  (``on_delete=PROTECT``), and nothing deletes either outside Django.
- Two indexes no query reads are gone: ``action`` (and its LIKE twin) and
  ``at``. The access log finds a person's events by (person, time) or by the
  persons in ``detail``; the outbox reads by id; the own-actions list by actor.
- PostgreSQL's append-only guard runs for an INSERT only when it brings a
  seal (the trigger's WHEN, checked without calling the function): appending
  an ordinary event costs no trigger call. Updates and deletes are checked as
  before.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

GUARD_FWD = """
DROP TRIGGER IF EXISTS audit_auditevent_seal_only ON audit_auditevent;
CREATE TRIGGER audit_auditevent_seal_only BEFORE UPDATE OR DELETE ON audit_auditevent
  FOR EACH ROW EXECUTE FUNCTION audit_auditevent_seal_only();
CREATE TRIGGER audit_auditevent_appended_unsealed BEFORE INSERT ON audit_auditevent
  FOR EACH ROW
  WHEN (NEW.seq IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL)
  EXECUTE FUNCTION audit_auditevent_seal_only();
"""
GUARD_REV = """
DROP TRIGGER IF EXISTS audit_auditevent_appended_unsealed ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_auditevent_seal_only ON audit_auditevent;
CREATE TRIGGER audit_auditevent_seal_only BEFORE INSERT OR UPDATE OR DELETE ON audit_auditevent
  FOR EACH ROW EXECUTE FUNCTION audit_auditevent_seal_only();
"""


def guard_forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD_FWD, params=None)


def guard_reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD_REV, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_fewer_indexes"),
        ("members", "0004_staff_enrolment_codes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="subject_person",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="audit_events",
                to="members.insuredperson",
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="at",
            field=models.DateTimeField(),
        ),
        migrations.RunPython(guard_forward, guard_reverse, elidable=False),
    ]
