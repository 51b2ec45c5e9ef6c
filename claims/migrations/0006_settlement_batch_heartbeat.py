"""A settlement batch whose worker stopped is picked up again within minutes
(ADR 0005, issue 19 finding 11): each batch keeps a heartbeat (task start,
each chunk) and how often the stall sweeper sent it again; a partial index
finds the unfinished ones.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('claims', '0005_settlement_batch_ranges'),
    ]

    operations = [
        migrations.AddField(
            model_name='settlementbatch',
            name='heartbeat_at',
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name='settlementbatch',
            name='resumed_count',
            field=models.IntegerField(default=0, editable=False),
        ),
        migrations.AddIndex(
            model_name='settlementbatch',
            index=models.Index(condition=models.Q(('status', 'done'), _negated=True), fields=['heartbeat_at'], name='claims_batch_unfinished'),
        ),
    ]
