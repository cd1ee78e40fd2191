"""The SQL of the ticket change log (store/changelog.py) in PostgreSQL's dialect, run inside the caller's
transaction. The policy (what a change is, the thinning tiers) is store/changelog.py's: one policy.

``record`` is the one step the ticket write path (store.py ``_write_tickets``) takes for it, once the
page is in its session table and before it is merged into ``tickets``: ONE statement compares the page
with the stored rows on the tracked columns and writes a row per real change (and, at a ticket's first
change, the state it changes from).
"""

from __future__ import annotations

from backlog_watch.store.changelog import CHANGE_COLUMNS, CHANGED, CREATED, TRACKED_COLUMNS, due_to_thin, thin_slices
from backlog_watch.store.postgres.schema import Db

_TRACKED = TRACKED_COLUMNS.split(", ")
_CHANGED = (
    "SELECT p.helpdesk, p.id, t.updated_at AS was_at, CASE WHEN p.updated_at > t.updated_at THEN p.updated_at"
    " ELSE greatest(extract(epoch FROM clock_timestamp())::double precision, t.updated_at) END AS at, "
    + ", ".join(f"t.{c} AS was_{c}, p.{c}" for c in _TRACKED)
    + " FROM page_in p JOIN LATERAL (SELECT * FROM tickets s WHERE s.helpdesk = p.helpdesk AND s.id = p.id LIMIT 1)"
    f" t ON true WHERE ({', '.join(f't.{c}' for c in _TRACKED)})"
    f" IS DISTINCT FROM ({', '.join(f'p.{c}' for c in _TRACKED)})"
)
_RECORD = (
    f"WITH changed AS MATERIALIZED ({_CHANGED}) INSERT INTO ticket_changes ({CHANGE_COLUMNS}) "
    f"SELECT helpdesk, id, was_at, '{CREATED}', {', '.join(f'was_{c}' for c in _TRACKED)} FROM changed"
    " WHERE was_at <> at "
    f"UNION ALL SELECT helpdesk, id, at, '{CHANGED}', {', '.join(_TRACKED)} FROM changed "
    "ON CONFLICT (helpdesk, id, at) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in ("kind", *_TRACKED))
    + f" WHERE EXCLUDED.kind = '{CHANGED}' RETURNING at"
)
"""ONE statement: the page (in ``page_in``, one row per ticket) against the stored rows, each ticket
whose tracked columns differ making a ``changed`` row at the change's time (the ticket's updated_at, or
the sync's time when the helpdesk did not move it forward; it replaces a row at that time) and a
``created`` row of the state it left at the stored updated_at, which a row already there keeps (the
conditional DO UPDATE: only a change replaces). The stored row is read by its primary key for each row
of the page (LATERAL ... LIMIT 1): the planner knows nothing of the session table's size, and a plain
join hashes all of ``tickets`` for every page."""


def record(db: Db) -> None:
    """Log the changes the page in ``page_in`` makes, before it is merged into ``tickets``."""
    (last,) = db.execute("SELECT max(at) FROM ticket_changes").fetchone() or (None,)
    written = [float(row[0]) for row in db.execute(_RECORD).fetchall()]
    if not written:
        return
    now = max(written)
    if last is None or now > last and due_to_thin(last, now):
        thin(db, last, now)


def thin(db: Db, last: float | None, now: float) -> None:
    """Drop each row that a later row of its ticket in the same (aged) bucket makes redundant."""
    for start, end, bucket in thin_slices(last, now):
        same_bucket = "" if bucket is None else " AND n.at <= ceil(c.at / %(bucket)s) * %(bucket)s"
        db.execute(
            "DELETE FROM ticket_changes c WHERE c.at > %(start)s AND c.at < %(end)s AND EXISTS ("
            " SELECT 1 FROM ticket_changes n WHERE n.helpdesk = c.helpdesk AND n.id = c.id"
            f" AND n.at > c.at AND n.at < %(end)s{same_bucket})",
            {"start": start, "end": end, "bucket": bucket},
        )
