"""Member API tokens stored as SHA-256 only, with an expiry.

The clear tokens of rest_framework.authtoken are dropped, not hashed: they
never expired and may already sit in a dump, so every API client signs in
again (POST /api/v1/auth/token/). The app is no longer installed; its table
goes with its rows (DROP TABLE IF EXISTS: absent on a new database).
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('members', '0002_encrypt_id_number'),
    ]

    operations = [
        migrations.RunSQL(
            "DROP TABLE IF EXISTS authtoken_token", reverse_sql=migrations.RunSQL.noop
        ),
        migrations.AddField(
            model_name='user',
            name='session_generation',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.CreateModel(
            name='MemberToken',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key_sha256', models.CharField(editable=False, max_length=64, unique=True)),
                ('prefix', models.CharField(editable=False, max_length=12)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('expires_at', models.DateTimeField()),
                ('revoked_at', models.DateTimeField(blank=True, null=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_tokens', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'API token',
                'verbose_name_plural': 'API tokens',
                'indexes': [models.Index(fields=['user', 'revoked_at'], name='membertoken_user_live')],
            },
        ),
    ]
