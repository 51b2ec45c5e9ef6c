from django.db import migrations


def forward(apps, schema_editor):
    from payments.policy_data import load

    load(apps.get_model("payments", "PolicyYear"))


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
