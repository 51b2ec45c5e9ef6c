from django.db import migrations


def forward(apps, schema_editor):
    from payments.policy_data import load_resident

    load_resident(apps.get_model("payments", "PolicyYear"))


class Migration(migrations.Migration):
    dependencies = [("payments", "0004_resident_contribution_payment")]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
