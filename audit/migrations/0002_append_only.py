from django.db import migrations

from portal.db import append_only_sql, run_on_postgresql

FORWARD, REVERSE = append_only_sql("audit_auditevent")


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(run_on_postgresql(FORWARD), run_on_postgresql(REVERSE))]
