"""The settlement queue is emptied by DELETE chunk after chunk: let autovacuum
clear its dead rows soon (after 10,000 of them, not after 20% of the table),
so the next pick does not walk over a million dead index entries."""

from django.db import migrations

from portal.db import run_on_postgresql

FWD = (
    "ALTER TABLE claims_settlementwork SET "
    "(autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000)"
)
REV = (
    "ALTER TABLE claims_settlementwork RESET "
    "(autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold)"
)


class Migration(migrations.Migration):
    dependencies = [("claims", "0002_settlement_work_and_entries")]
    operations = [migrations.RunPython(run_on_postgresql(FWD), run_on_postgresql(REV))]
