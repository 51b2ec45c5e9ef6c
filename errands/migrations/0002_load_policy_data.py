from django.db import migrations


def load(apps, schema_editor):
    from errands import policy_data

    policy_data.load(
        disease_model=apps.get_model("errands", "ChronicDisease"),
        chronic_policy_model=apps.get_model("errands", "ChronicDiseasePolicy"),
        cross_policy_model=apps.get_model("errands", "CrossRegionPolicy"),
    )


class Migration(migrations.Migration):
    dependencies = [("errands", "0001_filings_chronic_applications_policies")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
