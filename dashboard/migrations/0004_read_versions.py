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


def _persons(arg: str, rows: str) -> str:
    """The SELECT of the persons ``arg`` names in the transition table ``rows``."""
    if arg == "*":
        return f"(SELECT 0::bigint FROM {rows} LIMIT 1)"
    if ">" in arg:
        column, target = arg.split(">")
        table, person = target.split(".")
        return f"(SELECT t.{person} FROM {rows} r JOIN {table} t ON t.id = r.{column})"
    return f"(SELECT {arg} FROM {rows})"


def _bump(args: list[str], *tables: str) -> str:
    persons = " UNION ".join(_persons(a, rows) for rows in tables for a in args)
    return (
        "INSERT INTO dashboard_readbump (person_id, weight)"
        f" SELECT p, 1 FROM ({persons}) s(p) WHERE p IS NOT NULL;"
    )


def _function(table: str, args: list[str]) -> str:
    # Static statements (planned once per connection, unlike EXECUTE); the
    # branch of another event is never planned, so its transition table
    # need not exist.
    return f"""
CREATE OR REPLACE FUNCTION {table}_read_bump() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_bump(args, "new_rows")}
  ELSIF TG_OP = 'DELETE' THEN
    {_bump(args, "old_rows")}
  ELSE
    {_bump(args, "new_rows", "old_rows")}
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
"""


def _triggers():
    for table in WATCHED:
        for event, refs in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "NEW TABLE AS new_rows OLD TABLE AS old_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        ):
            name = f"{table}_read_bump_{event.lower()}"
            yield name, table, (
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {refs} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_read_bump()"
            )


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, args in WATCHED.items():
        schema_editor.execute(_function(table, args), params=None)
    for _name, _table, sql in _triggers():
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, _sql in _triggers():
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    for table in WATCHED:
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {table}_read_bump()")


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
