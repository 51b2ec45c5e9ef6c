"""Migration 0003 moves the stored bad-row reports from the text column to files."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from payments.models import ImportBatch
from payments.services import import_report_text

BEFORE = [("payments", "0002_demo_policies")]
AFTER = [("payments", "0003_contribution_lifecycle")]


@pytest.mark.django_db(transaction=True)
def test_existing_reports_move_to_files(_private_media):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("payments", "ImportBatch")
    with_report = old.objects.create(
        file_name="a.csv", sha256="0" * 64, report_csv="line,column,value,problem\n2,base,x,bad\n"
    )
    clean = old.objects.create(file_name="b.csv", sha256="1" * 64, report_csv="")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)

    moved = ImportBatch.objects.get(pk=with_report.pk)
    assert import_report_text(moved) == "line,column,value,problem\n2,base,x,bad\n"
    assert (_private_media / "imports" / moved.report_name).is_file()
    assert ImportBatch.objects.get(pk=clean.pk).report_name == ""


@pytest.fixture(autouse=True)
def _back_to_the_latest():
    """Leave the schema as the later tests expect it: every migration applied
    (0003 is no longer the last one)."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
