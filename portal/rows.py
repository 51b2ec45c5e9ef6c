"""Plain INSERTs of model instances, for hot write paths (issue 16).

``insert_rows`` is ``bulk_create`` without compiling the statement on every
request: on the paths that write a few rows per request (an expense
submission, an audit event), compiling the ORM's INSERT cost more than
PostgreSQL took to run it.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import Model
from django.db.models.fields import AutoFieldMixin
from django.db.models.signals import post_save, pre_save

from portal.prepared import prepared_cursor

_INSERT_SQL: dict[tuple[type[Model], int, str], str] = {}

# Fields of exactly these classes leave a value of these Python types as it
# is (``get_db_prep_save`` returns it unchanged on PostgreSQL and SQLite), so
# ``_values`` hands it over without the call. Exact classes only: a subclass
# may prepare its value (an encrypted field does).
_UNCHANGED: dict[type, tuple[type, ...]] = {
    **dict.fromkeys(
        (
            models.AutoField,
            models.BigAutoField,
            models.SmallAutoField,
            models.IntegerField,
            models.BigIntegerField,
            models.SmallIntegerField,
            models.PositiveIntegerField,
            models.PositiveBigIntegerField,
            models.PositiveSmallIntegerField,
        ),
        (int,),
    ),
    models.CharField: (str,),
    models.TextField: (str,),
    models.BooleanField: (bool,),
}
_PLANS: dict[tuple[type[Model], str], list] = {}


def _connection():
    # The wrapper itself: every attribute of ``django.db.connection`` is
    # looked up again through the thread's connections otherwise.
    return connections[DEFAULT_DB_ALIAS]


def _unchanged(field) -> tuple[type, ...]:
    """The Python types ``field`` stores as they are (empty: prepare all)."""
    if type(field) in (models.ForeignKey, models.OneToOneField):
        field = field.target_field
    return _UNCHANGED.get(type(field), ())


def _plan(model: type[Model], fields, skip) -> list:
    key = (model, ",".join(sorted(skip)))
    plan = _PLANS.get(key)
    if plan is None:
        plan = [(f.attname, _unchanged(f), f) for f in fields if str(f.column) not in skip]
        _PLANS[key] = plan
    return plan


def _columns(model: type[Model]):
    """The model's primary key when the database assigns it (else None), and
    the fields an INSERT names: every concrete field but that key."""
    meta = model._meta
    auto_pk = meta.pk if isinstance(meta.pk, AutoFieldMixin) else None
    return auto_pk, [f for f in meta.concrete_fields if f is not auto_pk]


def _values(objs: list, fields, skip=()) -> list:
    """Each object's value of each field (but the columns in ``skip``), as
    the field prepares it for the database (``get_db_prep_save``, as the
    ORM's would: the SQLite demo gets its own form of dates and JSON). A
    plain number, text or truth value of a plain field is its own prepared
    value (``_UNCHANGED``): a row of ids and amounts costs no call per field."""
    conn = _connection()
    plan = _plan(type(objs[0]), fields, skip)
    out = []
    for obj in objs:
        for attname, unchanged, f in plan:
            value = getattr(obj, attname)
            if unchanged and (value is None or type(value) in unchanged):
                out.append(value)
            else:
                out.append(f.get_db_prep_save(value, conn))
    return out


def _pre_save(objs: list) -> None:
    for obj in objs:
        pre_save.send(sender=type(obj), instance=obj, raw=False, using=DEFAULT_DB_ALIAS)


def _insert_sql(model: type[Model], fields, row: str, n: int, returning: str) -> str:
    quote = _connection().ops.quote_name
    return "INSERT INTO {} ({}) VALUES {}{}".format(  # noqa: S608 (names from the model)
        quote(model._meta.db_table),
        ", ".join(quote(str(f.column)) for f in fields),
        ", ".join([row] * n),
        f" RETURNING {returning}" if returning else "",
    )


def insert_rows[M: Model](objs: list[M], *, signals: bool = False) -> list[M]:
    """INSERT new rows of one model in one statement and set their primary
    keys: ``bulk_create`` (or, with ``signals``, ``save``'s ``pre_save`` and
    ``post_save`` too) without compiling the statement on every request; its
    text is built once per model and row count."""
    model = type(objs[0])
    auto_pk, fields = _columns(model)
    if signals:
        _pre_save(objs)
    connection = _connection()
    key = (model, len(objs), connection.alias)
    sql = _INSERT_SQL.get(key)
    if sql is None:
        returning = connection.ops.quote_name(str(auto_pk.column)) if auto_pk else ""
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = _insert_sql(model, fields, row, len(objs), returning)
        if len(objs) <= 16:  # one or a few rows, as nearly every request; not 500 lines
            _INSERT_SQL[key] = sql
    # Prepared once it has run a few times (portal.prepared): an INSERT ...
    # VALUES gives every parameter the type of its column.
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, _values(objs, fields))
        if auto_pk is not None:
            for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
                setattr(obj, auto_pk.attname, pk)
    return stored(objs, signals=signals)


def insert_cte[M: Model](
    name: str,
    objs: list[M],
    *,
    refs: dict[str, str] | None = None,
    returning: str = "",
    signals: bool = False,
) -> tuple[str, list]:
    """``name AS (INSERT ...)``, the INSERT of ``objs`` (one model) as one
    part of a ``WITH`` statement, and its parameters: several tables written
    in ONE round trip (PostgreSQL only). ``refs`` puts an SQL expression in
    place of a column's value, e.g. ``{"expense_id": "(SELECT id FROM
    expense)"}`` for the key of a row an earlier part inserts; ``returning``
    is the part's ``RETURNING`` list. Values are prepared as in
    ``insert_rows``; the caller sets the primary keys and sends ``post_save``
    (``stored``); with ``signals`` this sends ``pre_save``, as ``save`` would
    before reading the values."""
    refs = refs or {}
    model = type(objs[0])
    if signals:
        _pre_save(objs)
    _auto_pk, fields = _columns(model)
    row = "(" + ", ".join(refs.get(str(f.column), "%s") for f in fields) + ")"
    sql = f"{name} AS ({_insert_sql(model, fields, row, len(objs), returning)})"
    return sql, _values(objs, fields, skip=refs)


def stored[M: Model](objs: list[M], *, signals: bool = False) -> list[M]:
    """Mark ``objs`` as saved rows (their primary keys already set), and with
    ``signals`` send ``post_save`` for each, as ``insert_rows`` does."""
    for obj in objs:
        obj._state.adding, obj._state.db = False, DEFAULT_DB_ALIAS
        if signals:
            post_save.send(
                sender=type(obj),
                instance=obj,
                created=True,
                update_fields=None,
                raw=False,
                using=DEFAULT_DB_ALIAS,
            )
    return objs
