"""Per-component statistics of a build, from the zarr attrs alone, beside the published table.

Every figure comes from the provenance each session stores in its ``zarr.json``
(``n_units``, ``n_bins``, ``tokens``, ``n_spikes``, ``segments``,
``n_clipped_bins``, ``bin_size_s``), so a corpus of any size is summarised
without reading a single count. The published figures are the recipes'
``expect`` (sessions, tokens); ``diff`` columns are built minus published.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from neuralbench.catalog import RECIPES
from neuralbench.store import session_attrs, stored_components, stored_sessions

__all__ = ["COLUMNS", "corpus_stats", "format_stats"]

logger = logging.getLogger(__name__)

COLUMNS = (
    "component",
    "sessions",
    "published_sessions",
    "sessions_diff",
    "segments",
    "units",
    "tokens",
    "published_tokens",
    "tokens_diff",
    "spikes",
    "mean_rate_hz",
    "clipped_bins",
)
"""The keys of each row, in table order."""


def _component_stats(out_dir: Path, name: str) -> dict[str, Any]:
    sessions = stored_sessions(out_dir, name)
    row: dict[str, Any] = dict.fromkeys(("segments", "units", "tokens", "spikes", "clipped_bins"), 0)
    seconds = 0.0  # unit-seconds: units * bins * bin width, summed over sessions
    for key in sessions:
        a = session_attrs(out_dir, *key) or {}
        units, bins = int(a.get("n_units", 0)), int(a.get("n_bins", 0))
        row["segments"] += int(a.get("segments", 1))
        row["units"] += units
        row["tokens"] += int(a.get("tokens", units * bins))
        row["spikes"] += int(a.get("n_spikes", 0))
        row["clipped_bins"] += int(a.get("n_clipped_bins", 0))
        seconds += units * bins * float(a.get("bin_size_s", 0.02))
    expect = RECIPES[name].expect if name in RECIPES else None
    pub_sessions = expect.sessions if expect else None
    pub_tokens = expect.tokens if expect else None
    stats = {
        "component": name,
        "sessions": len(sessions),
        "published_sessions": pub_sessions,
        "sessions_diff": None if pub_sessions is None else len(sessions) - pub_sessions,
        **row,
        "published_tokens": pub_tokens,
        "tokens_diff": None if pub_tokens is None else row["tokens"] - pub_tokens,
        "mean_rate_hz": round(row["spikes"] / seconds, 3) if seconds else None,
    }
    return {k: stats[k] for k in COLUMNS}


def corpus_stats(
    out_dir: str | os.PathLike[str], components: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """One row per stored component (in the published merge order), then a ``total`` row.

    Parameters
    ----------
    out_dir
        A build's output folder (the one holding ``zarr/``).
    components
        Only these; default every component in the zarr store.

    Returns
    -------
    list of dict
        Keys :data:`COLUMNS`; ``units`` is summed over sessions (unit-sessions).
        ``mean_rate_hz`` = spikes / (units x bins x bin
        width): the mean firing rate of a unit. A published figure the catalog
        lacks is ``None``, and so is its difference.

    Examples
    --------
    >>> rows = corpus_stats("demo-out")  # doctest: +SKIP
    >>> rows[-1]["tokens"]  # doctest: +SKIP
    """
    from neuralbench.catalog import MERGE_ORDER

    out_dir = Path(out_dir)
    stored = stored_components(out_dir)
    names = [n for n in stored if components is None or n in components]
    order = {n: i for i, n in enumerate(MERGE_ORDER)}
    rows = [_component_stats(out_dir, n) for n in sorted(names, key=lambda n: (order.get(n, len(order)), n))]
    return [*rows, _total(rows)] if rows else rows


def _total(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"component": "total"}
    for key in COLUMNS[1:]:
        values = [r[key] for r in rows]
        total[key] = sum(values) if all(v is not None for v in values) else None
    spikes = sum(r["spikes"] for r in rows)
    seconds = sum(r["spikes"] / r["mean_rate_hz"] for r in rows if r["mean_rate_hz"])
    total["mean_rate_hz"] = round(spikes / seconds, 3) if seconds else None
    return total


def format_stats(rows: Sequence[Mapping[str, Any]]) -> str:
    """An aligned plain-text table of :func:`corpus_stats` rows (numbers with thousands separators)."""
    headers = {
        "component": "component",
        "sessions": "sessions",
        "published_sessions": "pub",
        "sessions_diff": "diff",
        "segments": "segments",
        "units": "units",
        "tokens": "tokens",
        "published_tokens": "published tokens",
        "tokens_diff": "diff",
        "spikes": "spikes",
        "mean_rate_hz": "rate (Hz)",
        "clipped_bins": "clipped",
    }

    def cell(key: str, value: Any) -> str:
        if value is None:
            return "-"
        if key.endswith("_diff"):
            return f"{value:+,}"
        if isinstance(value, float):
            return f"{value:.2f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    table = [[headers[k] for k in COLUMNS]] + [[cell(k, r[k]) for k in COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = []
    for j, line in enumerate(table):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if j == 0 or (j == len(table) - 2 and rows and rows[-1]["component"] == "total"):
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
