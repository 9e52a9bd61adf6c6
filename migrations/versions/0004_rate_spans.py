"""Rate spans: what `report accrual` reads instead of every version.

A number's accrual depends on five of its tracked values only: status, monthly fee,
currency, setup fee and provider creation time. Most new versions change none of them (a
name, an assignment). `rate_spans` joins the consecutive versions of a number that agree on
all five into one row, in force from its first version's `valid_from` to its last one's
`valid_to`, and carries the status, monthly fee and currency of the span before it
(`status_before` null: the number's first sighting). So the accrual reads fewer rows and
needs no join of each version to the one before it.

The sync keeps the table in the same transaction as the versions; this migration derives it
from the versions already stored, in one INSERT ... SELECT (window functions: SQLite 3.25,
MariaDB 10.2, any supported PostgreSQL).

The index: `(number_id, valid_to)` closes a number's open span, as for the versions (built
after a first load like theirs; it also serves MariaDB's foreign key).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syncer.store.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
RATE_COLUMNS = ("status", "monthly_fee", "currency", "provider_created_at", "setup_fee")
BEFORE = {"status": "status_before", "monthly_fee": "fee_before", "currency": "currency_before"}


def money() -> sa.Numeric:  # type: ignore[type-arg]
    return sa.Numeric(precision=18, scale=6)


def upgrade() -> None:
    op.create_table(
        "rate_spans",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("number_id", Id, nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("monthly_fee", money(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("provider_created_at", UTCDateTime(), nullable=True),
        sa.Column("setup_fee", money(), nullable=True),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_to", UTCDateTime(), nullable=True),
        sa.Column("status_before", sa.String(16), nullable=True),
        sa.Column("fee_before", money(), nullable=True),
        sa.Column("currency_before", sa.String(3), nullable=True),
        sa.ForeignKeyConstraint(
            ["number_id"],
            ["phone_numbers.id"],
            name=op.f("fk_rate_spans_number_id_phone_numbers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_spans")),
    )
    op.create_index("ix_rate_spans_number_valid_to", "rate_spans", ["number_id", "valid_to"])
    op.execute(derive_spans())


def downgrade() -> None:
    op.drop_table("rate_spans")


def derive_spans() -> sa.Insert:
    """INSERT INTO rate_spans the spans of every stored version: a version starts a span when
    it has no version before it or differs from it in one of `RATE_COLUMNS`; the spans are
    numbered by a running count of starts per number, and each span's rows grouped."""
    v = sa.table(
        "phone_number_versions",
        *(sa.column(name) for name in ("id", "number_id", "valid_from", "valid_to")),
        *(sa.column(name) for name in RATE_COLUMNS),
    )
    numbers = sa.table("phone_numbers", sa.column("id"), sa.column("provider"))
    order = {"partition_by": v.c.number_id, "order_by": (v.c.valid_from, v.c.id)}
    lagged = sa.select(
        v.c.number_id,
        v.c.valid_from,
        v.c.valid_to,
        *(v.c[name] for name in RATE_COLUMNS),
        sa.func.lag(v.c.id).over(**order).label("id_before"),
        *(sa.func.lag(v.c[name]).over(**order).label(f"{name}_before") for name in RATE_COLUMNS),
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
    spans = (
        sa.select(
            n.number_id,
            numbers.c.provider,
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
        .select_from(numbered.join(numbers, numbers.c.id == n.number_id))
        .group_by(n.number_id, numbers.c.provider, n.span)
    )
    target = sa.table(
        "rate_spans",
        *(
            sa.column(name)
            for name in ("number_id", "provider", *RATE_COLUMNS, "valid_from", "valid_to")
        ),
        *(sa.column(before) for before in BEFORE.values()),
    )
    return sa.insert(target).from_select(
        ["number_id", "provider", *RATE_COLUMNS, "valid_from", "valid_to", *BEFORE.values()],
        spans,
    )
