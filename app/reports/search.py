"""Text search over cases (descriptions, addresses, case numbers) for the console and the staff API (`q=`).

PostgreSQL: trigram GIN indexes (pg_trgm, migration asm0001) serve `ILIKE '%…%'` and rank by similarity. SQLite: a
plain LIKE. On both, `%` and `_` typed by the user are escaped, so they match themselves.
"""

from __future__ import annotations

import re

from sqlalchemy import DDL, Index, Select, case, event, func, or_

from app.extensions import db
from app.reports.models import Report

MAX_QUERY_CHARS = 100
# A text search counts (and ranks) at most this many hits; more are shown as "10,000+", newest first.
COUNT_CAP = 10_000
CASE_NUMBER = re.compile(r"^[A-Za-z]{1,4}\d{8,14}$")

# Declared here, next to the query that needs them; created by migration asm0001 (and by create_all in tests). On
# SQLite they are plain B-tree indexes, which LIKE '%…%' cannot use; they only keep one schema for both databases.
TRIGRAM_INDEXES = [
    Index("ix_reports_description_trgm", Report.description, postgresql_using="gin",
          postgresql_ops={"description": "gin_trgm_ops"}),
    Index("ix_reports_address_trgm", Report.address, postgresql_using="gin",
          postgresql_ops={"address": "gin_trgm_ops"}),
    Index("ix_reports_case_number_trgm", Report.case_number, postgresql_using="gin",
          postgresql_ops={"case_number": "gin_trgm_ops"}),
]
event.listen(
    Report.__table__, "before_create", DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql")
)


def is_case_number(q: str) -> bool:
    """Whether the text looks like a case number (JB2611230042): then it is an exact lookup."""
    return bool(CASE_NUMBER.match(q))


def matching(query: Select, q: str) -> Select:
    """Restrict a Report query to cases whose description, address or number contains `q`."""
    return query.where(
        or_(
            Report.description.icontains(q, autoescape=True),
            Report.address.icontains(q, autoescape=True),
            Report.case_number.icontains(q, autoescape=True),
        )
    )


def rank(q: str) -> list:
    """ORDER BY terms that put the best matches first: number, then address, then by trigram similarity."""
    terms = [
        case(
            (Report.case_number.icontains(q, autoescape=True), 0),
            (Report.address.icontains(q, autoescape=True), 1),
            else_=2,
        )
    ]
    if db.engine.dialect.name == "postgresql":
        terms.append(func.similarity(Report.description, q).desc())
    return terms
