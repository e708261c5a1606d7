"""Publication must not lose rows silently: a table that shrinks by more than a share of its rows
against the last published snapshot blocks publishing until a user confirms the shrink.

Pure functions; the warehouse resource and the raw assets call them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

DEFAULT_MAX_SHRINK_SHARE = 0.10
ALLOW_ALL = "all"


def parse_allowed(text: str | None) -> set[str]:
    """`CARDIOML_ALLOW_SHRINK`: comma-separated table names (`raw.urinalysis`, `urinalysis`) or `all`."""
    return {part.strip().lower() for part in (text or "").split(",") if part.strip()}


def shrink_allowed(table: str, allowed: set[str]) -> bool:
    """Whether `schema.table` may shrink: named in full, by its bare name, or `all`."""
    return ALLOW_ALL in allowed or table.lower() in allowed or table.lower().partition(".")[2] in allowed


def shrink_problem(table: str, published_rows: int | None, current_rows: int, max_share: float, allowed: set[str], confirm: str | None = None) -> str | None:
    """Why `table` going from `published_rows` (the last snapshot; None = not published yet) to
    `current_rows` must not be published unconfirmed, else None."""
    if published_rows is None or published_rows == 0 or current_rows >= published_rows:
        return None
    lost = published_rows - current_rows
    if lost / published_rows <= max_share or shrink_allowed(table, allowed):
        return None
    return (
        f"{table} shrank from {published_rows} rows (last published snapshot) to {current_rows} "
        f"({lost / published_rows:.0%} fewer, more than the {max_share:.0%} allowed): a partly written input? "
        f"If the shrink is intended, confirm it with CARDIOML_ALLOW_SHRINK={confirm or table} (or allow_shrink in the "
        f"warehouse resource's run config) and run again"
    )


def shrink_problems(published: Mapping[str, int], current: Mapping[str, int], max_share: float, allowed: set[str], tables: Iterable[str] | None = None) -> list[str]:
    names = sorted(tables if tables is not None else set(published) & set(current))
    return [p for name in names if name in current and (p := shrink_problem(name, published.get(name), current[name], max_share, allowed))]
