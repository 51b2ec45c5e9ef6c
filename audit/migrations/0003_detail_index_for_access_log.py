"""A GIN index over the audit events' detail (PostgreSQL only), for the
member's access log (audit.selectors, docs/adr/0018): it finds a person in the
detail of list pages (``{"persons": [id]}``) with ``detail @> ...``. The
embedded SQLite demo reads the same events without it."""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS audit_detail_gin ON audit_auditevent "
            "USING gin (detail jsonb_path_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS audit_detail_gin")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only")]
    operations = [migrations.RunPython(create, drop)]
