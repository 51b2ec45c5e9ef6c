"""A per-person read version kept by the database (docs/adr/0006, "the
member pages' cache").

``dashboard_readbump`` is append-only for writers: every statement that
changes what a member page shows appends one row per person it touched
(``weight`` 1), from a statement-level trigger with transition tables, so
set-based SQL and COPY move it as surely as the ORM. A person's read version
is the sum of the weights of their rows and of person 0's (changes that may
show on anyone's page: names, institutions, policy data). Writers never
update or lock a shared row, so the version adds no lock and no deadlock to
any writer; a commit can only make the sum grow, so two snapshots with the
same sum saw the same changes. ``dashboard.tasks.compact_read_versions``
folds a person's rows into one with the same sum.

PostgreSQL only: the SQLite demo has no triggers, and there the page cache
is off (``dashboard.pagecache``).
"""

from django.db import migrations, models

# What a person's pages read, and the columns of each row that name the
# persons whose pages show it. "*" is person 0 (everyone's pages);
# "col>table.target" follows a foreign key. tests/dashboard/test_page_cache.py
# fails when a cached page reads a table that is not listed here.
WATCHED = {
    "payments_contribution": ["person_id"],
    "payments_residentcontributionpayment": ["member_id", "relative_id"],
    "claims_expense": ["patient_id"],
    "claims_expensepart": ["grantor_id", "expense_id>claims_expense.patient_id"],
    "claims_fundaccumulator": ["person_id"],
    "accounts_ledgeraccount": ["person_id"],
    "accounts_rollover": ["person_id"],
    "family_familylink": ["member_id", "relative_id"],
    "errands_crossregionfiling": ["person_id"],
    "errands_chronicapplication": ["person_id"],
    # Shown on other persons' pages too (a relative's name, a grantor's).
    "members_insuredperson": ["*"],
    "claims_institution": ["*"],
    "claims_benefitpolicy": ["*"],
    "errands_chronicdisease": ["*"],
    "family_relationshippolicy": ["*"],
}

FUNCTION = r"""
CREATE OR REPLACE FUNCTION dashboard_read_bump() RETURNS trigger AS $$
DECLARE
  rel text;
  arg text;
  parts text[] := '{}';
BEGIN
  FOREACH rel IN ARRAY CASE TG_OP
      WHEN 'INSERT' THEN ARRAY['new_rows']
      WHEN 'DELETE' THEN ARRAY['old_rows']
      ELSE ARRAY['new_rows', 'old_rows'] END LOOP
    FOREACH arg IN ARRAY TG_ARGV LOOP
      IF arg = '*' THEN
        parts := parts || format('(SELECT 0::bigint FROM %I LIMIT 1)', rel);
      ELSIF position('>' IN arg) > 0 THEN
        parts := parts || format(
          'SELECT t.%I FROM %I r JOIN %I t ON t.id = r.%I',
          split_part(split_part(arg, '>', 2), '.', 2), rel,
          split_part(split_part(arg, '>', 2), '.', 1), split_part(arg, '>', 1));
      ELSE
        parts := parts || format('SELECT %I FROM %I', arg, rel);
      END IF;
    END LOOP;
  END LOOP;
  EXECUTE 'INSERT INTO dashboard_readbump (person_id, weight) SELECT p, 1 FROM ('
    || array_to_string(parts, ' UNION ') || ') s(p) WHERE p IS NOT NULL';
  RETURN NULL;
END $$ LANGUAGE plpgsql;
"""


def _triggers():
    for table, args in WATCHED.items():
        argv = ", ".join(f"'{a}'" for a in args)
        for event, refs in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "NEW TABLE AS new_rows OLD TABLE AS old_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        ):
            name = f"{table}_read_bump_{event.lower()}"
            yield name, table, (
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {refs} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION dashboard_read_bump({argv})"
            )


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    for _name, _table, sql in _triggers():
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, _sql in _triggers():
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS dashboard_read_bump()")


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0003_insurance_certificate_kind"),
        ("payments", "0005_resident_contribution_amounts"),
        ("claims", "0007_expense_pool_and_basis"),
        ("accounts", "0006_merge_resident_account_and_balance_deltas"),
        ("family", "0003_merge_scope_errands_and_family_trust"),
        ("errands", "0002_load_policy_data"),
        ("members", "0004_staff_enrolment_codes"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReadBump",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("person_id", models.BigIntegerField()),
                ("weight", models.BigIntegerField(default=1)),
            ],
            options={"db_table": "dashboard_readbump"},
        ),
        migrations.AddIndex(
            model_name="readbump",
            index=models.Index(
                fields=["person_id", "weight"], name="dashboard_readbump_person"
            ),
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
