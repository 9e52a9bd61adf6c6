"""`rate_spans` derived from the versions, in SQL (the table: `syncer.store.models.RateSpan`).

The sync keeps the spans as it writes versions (`syncer.store.history`). This module derives
them from the versions instead, for whatever wrote versions without them: a database filled
by a script, or an older syncer left running after `syncer db upgrade`.

- `derived_spans`: the SELECT of every span the stored versions make. Migration 0004 fills
  the table with it, `rebuild` (`syncer db upgrade --rebuild-spans`) fills it again, and
  `report accrual` reads it for one report when the table is out of step.
- `out_of_step`: how many numbers have no open span, or one whose rate is not the number's
  current one. It is cheap (one pass over the numbers and the open spans), and it catches a
  number created, changed or released without its span.

A version starts a span when it has no version before it, or differs from that version in
one of `RATE_COLUMNS`. The spans are numbered by a running count of starts per number, and
each span's versions are grouped (window functions: SQLite 3.25, MariaDB 10.2).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection, Select

from syncer.store.models import RATE_COLUMNS

BEFORE = {"status": "status_before", "monthly_fee": "fee_before", "currency": "currency_before"}
SPAN_COLUMNS: tuple[str, ...] = ("number_id", "provider", *RATE_COLUMNS, "valid_from")
SPAN_COLUMNS += ("valid_to", *BEFORE.values())

_versions = sa.table(
    "phone_number_versions",
    *(sa.column(name) for name in ("id", "number_id", "valid_from", "valid_to")),
    *(sa.column(name) for name in RATE_COLUMNS),
)
_numbers = sa.table(
    "phone_numbers", sa.column("id"), sa.column("provider"), *map(sa.column, RATE_COLUMNS)
)
_spans = sa.table("rate_spans", *(sa.column(name) for name in ("id", *SPAN_COLUMNS)))


def derived_spans() -> Select[tuple[object, ...]]:
    """Every span of the stored versions, its columns in `SPAN_COLUMNS` order."""
    v = _versions.c

    def lagging(column: sa.ColumnClause[object], label: str) -> sa.Label[object]:
        window = sa.func.lag(column).over(partition_by=v.number_id, order_by=(v.valid_from, v.id))
        return window.label(label)

    lagged = sa.select(
        v.number_id,
        v.valid_from,
        v.valid_to,
        *(v[name] for name in RATE_COLUMNS),
        lagging(v.id, "id_before"),
        *(lagging(v[name], f"{name}_before") for name in RATE_COLUMNS),
    ).subquery("lagged")
    g = lagged.c
    starts = sa.or_(
        g.id_before.is_(None),
        *(g[name].is_distinct_from(g[f"{name}_before"]) for name in RATE_COLUMNS),
    )
    flagged = sa.select(*g, sa.case((starts, 1), else_=0).label("starts")).subquery("flagged")
    f = flagged.c
    numbered = sa.select(
        *f,
        sa.func.sum(f.starts)
        .over(partition_by=f.number_id, order_by=f.valid_from, rows=(None, 0))
        .label("span"),
    ).subquery("numbered")
    n = numbered.c
    return (
        sa.select(
            n.number_id,
            _numbers.c.provider,
            *(sa.func.max(n[name]).label(name) for name in RATE_COLUMNS),
            sa.func.min(n.valid_from).label("valid_from"),
            sa.case(
                (sa.func.count() == sa.func.count(n.valid_to), sa.func.max(n.valid_to)),
                else_=sa.null(),
            ).label("valid_to"),
            *(
                sa.func.max(sa.case((n.starts == 1, n[f"{name}_before"]))).label(before)
                for name, before in BEFORE.items()
            ),
        )
        .select_from(numbered.join(_numbers, _numbers.c.id == n.number_id))
        .group_by(n.number_id, _numbers.c.provider, n.span)
    )


def derive_spans() -> sa.Insert:
    """INSERT INTO rate_spans every span of the stored versions."""
    return sa.insert(_spans).from_select(list(SPAN_COLUMNS), derived_spans())


def rebuild(connection: Connection) -> int:
    """Derive `rate_spans` again from the versions, in the caller's transaction; returns
    how many spans there are. On PostgreSQL the table is locked first, so a sync that
    writes spans meanwhile waits and then goes on from the derived ones."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("LOCK TABLE rate_spans IN EXCLUSIVE MODE")
    connection.execute(sa.delete(_spans))
    connection.execute(derive_spans())
    return int(connection.execute(sa.select(sa.func.count()).select_from(_spans)).scalar_one())


def out_of_step(connection: Connection) -> int:
    """Numbers without an open span, or whose open span's rate is not their current one."""
    s, n = _spans.c, _numbers.c
    open_span = sa.and_(s.number_id == n.id, s.valid_to.is_(None))
    disagrees = sa.or_(
        s.id.is_(None), *(s[name].is_distinct_from(n[name]) for name in RATE_COLUMNS)
    )
    query = (
        sa.select(sa.func.count())
        .select_from(_numbers.outerjoin(_spans, open_span))
        .where(disagrees)
    )
    return int(connection.execute(query).scalar_one())
