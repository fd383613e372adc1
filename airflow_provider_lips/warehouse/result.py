"""What a load wrote, as the loads return it and the log reports it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["ROW_OUTCOMES", "LoadResult"]

ROW_OUTCOMES = ("inserted", "updated", "unchanged")


@dataclass(frozen=True)
class LoadResult:
    """What one load wrote: distinct interactions and contacts upserted from ``uri``.

    ``removed`` counts the rows of the manifest's scope marked removed (or deleted) because
    the vendor no longer has them; ``sync`` says whether that ran, or why not.
    ``contacts_skipped`` counts interactions whose embedded contact had no id (the
    interaction is loaded, the contact row cannot be). ``rows`` tells, per table, how many
    rows the load inserted, updated and left unchanged (a reload of the same file: all unchanged).
    """

    uri: str
    records: int
    interactions: int
    contacts: int
    removed: int = 0
    contacts_skipped: int = 0
    sync: str = field(default="", compare=False)  # a sentence for people, not a value to compare
    rows: Mapping[str, Mapping[str, int]] = field(default_factory=dict, compare=False)  # what this load did

    @classmethod
    def combine(cls, uri: str, results: Sequence[LoadResult]) -> LoadResult:
        """The sum of several files' loads (one manifest's files, say)."""
        rows: dict[str, dict[str, int]] = {}
        for result in results:
            for table, counts in result.rows.items():
                tally = rows.setdefault(table, dict.fromkeys(ROW_OUTCOMES, 0))
                for outcome in ROW_OUTCOMES:
                    tally[outcome] += counts.get(outcome, 0)
        return cls(
            uri,
            records=sum(r.records for r in results),
            interactions=sum(r.interactions for r in results),
            contacts=sum(r.contacts for r in results),
            removed=sum(r.removed for r in results),
            contacts_skipped=sum(r.contacts_skipped for r in results),
            sync="; ".join(dict.fromkeys(r.sync for r in results if r.sync)),
            rows=rows,
        )

    def describe_rows(self) -> str:
        """``table: n inserted, n updated, n unchanged`` for every table, for the log."""
        return "; ".join(
            f"{table}: " + ", ".join(f"{counts.get(outcome, 0)} {outcome}" for outcome in ROW_OUTCOMES)
            for table, counts in self.rows.items()
        )
