"""Store identity numbers encrypted, with a keyed hash for look-ups.

Existing rows are encrypted with the keys configured when the migration runs
(ID_NUMBER_KEYS / ID_NUMBER_HASH_KEY); then the clear column is dropped.
"""

from django.db import migrations, models


def encrypt_existing(apps, schema_editor):
    from members.crypto import encrypt_id_number

    InsuredPerson = apps.get_model("members", "InsuredPerson")
    for person in InsuredPerson.objects.only("pk", "id_number").iterator(chunk_size=1000):
        encrypted, digest = encrypt_id_number(person.id_number)
        InsuredPerson.objects.filter(pk=person.pk).update(
            id_number_encrypted=encrypted, id_number_hash=digest
        )


def decrypt_existing(apps, schema_editor):
    from members.crypto import decrypt

    InsuredPerson = apps.get_model("members", "InsuredPerson")
    for person in InsuredPerson.objects.only("pk", "id_number_encrypted").iterator(chunk_size=1000):
        InsuredPerson.objects.filter(pk=person.pk).update(
            id_number=decrypt(person.id_number_encrypted)
        )


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="insuredperson",
            name="id_number_encrypted",
            field=models.TextField(null=True, editable=False),
        ),
        migrations.AddField(
            model_name="insuredperson",
            name="id_number_hash",
            field=models.CharField(max_length=64, null=True, editable=False),
        ),
        migrations.AlterField(
            model_name="insuredperson",
            name="id_number",
            field=models.CharField(max_length=18, null=True, verbose_name="identity number"),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.RemoveField(model_name="insuredperson", name="id_number"),
        migrations.AlterField(
            model_name="insuredperson",
            name="id_number_encrypted",
            field=models.TextField(editable=False, verbose_name="identity number (encrypted)"),
        ),
        migrations.AlterField(
            model_name="insuredperson",
            name="id_number_hash",
            field=models.CharField(
                editable=False,
                max_length=64,
                unique=True,
                verbose_name="identity number look-up hash",
            ),
        ),
    ]
