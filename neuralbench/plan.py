"""What the catalog holds and what a build of one component would take, as printable tables.

Library side of ``neuralbench catalog`` and ``neuralbench plan NAME --listing FILE.json``:
plain functions returning rows (lists of flat dicts) that :func:`format_table` prints.
A listing is a DANDI asset listing as stored in ``real-data/dandi-listings/``: a JSON
object with ``dandiset_id``, ``version``, ``numberOfFiles`` and ``assets``, each asset a
``{"path", "size", "sha256", ...}`` object.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

from neuralbench.catalog import MERGE_ORDER, RECIPES, Archive, Dandi, Recipe, get_recipe
from neuralbench.errors import RecipeError

__all__ = ["catalog_table", "format_table", "plan", "source_label"]

logger = logging.getLogger(__name__)


def source_label(source: Dandi | Archive) -> str:
    """Short name of a source: ``DANDI:000628@draft``, ``dryad:10.5061/...``."""
    if isinstance(source, Dandi):
        return f"DANDI:{source.dandiset}@{source.version}"
    return f"{source.kind}:{source.record}"


def catalog_table(names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One row per component, in merge order: source, reader and the published figures.

    Examples
    --------
    >>> rows = catalog_table(["h2"])
    >>> rows[0]["source"], rows[0]["sessions"]
    ('DANDI:000950@0.241029.1403', 47)
    """
    order = list(names) if names is not None else [*MERGE_ORDER, *sorted(set(RECIPES) - set(MERGE_ORDER))]
    rows = []
    for name in order:
        r = get_recipe(name)
        rows.append(
            {
                "name": r.name,
                "source": source_label(r.source),
                "reader": r.reader,
                "sessions": r.expect.sessions,
                "tokens": r.expect.tokens,
                "subjects": r.expect.subjects,
                "fixes": ", ".join(r.fixes),
            }
        )
    return rows


def _load_listing(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            listing = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise RecipeError(path, f"not a readable JSON listing ({exc})") from exc
    if not isinstance(listing, dict) or "assets" not in listing:
        raise RecipeError(path, "not an asset listing: no 'assets' key")
    return listing


def plan(name: str, listing_json_path: str | os.PathLike[str]) -> dict[str, Any]:
    """What building ``name`` from the assets of a listing would select.

    Returns
    -------
    dict
        ``summary``: one flat row (listed and selected files, bytes, expected
        sessions and the difference from the published count, the recipe's note);
        ``files``: one row per selected file with its ids and size.

    Raises
    ------
    RecipeError
        If the listing is unreadable or belongs to another dandiset.
    """
    recipe = get_recipe(name)
    listing = _load_listing(listing_json_path)
    _check_dandiset(recipe, listing, os.fspath(listing_json_path))
    assets = listing.get("assets")
    sizes = {a["path"]: int(a.get("size") or 0) for a in assets or []}
    selected = recipe.select(sizes)
    files = []
    for path in selected:
        subject, session = recipe.ids.of(path)
        files.append({"path": path, "size": sizes[path], "subject_id": subject, "session_id": session})
    expected = recipe.expect.sessions
    note = recipe.expect.note
    if assets is None:
        note = f"the listing has no asset list ({listing.get('numberOfFiles')} files in its summary)"
    pinned, listed = getattr(recipe.source, "version", None), str(listing.get("version", ""))
    if pinned and listed and listed != pinned:
        other = f"listing of version {listed}, not the pinned {pinned} (a build downloads {pinned})"
        note = f"{other}; {note}" if note else other
    summary = {
        "name": recipe.name,
        "source": source_label(recipe.source),
        "listing_version": listing.get("version", ""),
        "listed_files": len(assets) if assets is not None else listing.get("numberOfFiles"),
        "selected": len(selected) if assets is not None else None,
        "total_bytes": sum(f["size"] for f in files),
        "subjects": len({f["subject_id"] for f in files}),
        "expected_sessions": expected,
        "difference": (len(selected) - expected) if assets is not None and expected is not None else None,
        "note": note,
    }
    return {"summary": summary, "files": files}


def _check_dandiset(recipe: Recipe, listing: dict[str, Any], path: str) -> None:
    listed = str(listing.get("dandiset_id", ""))
    if not isinstance(recipe.source, Dandi):
        raise RecipeError(path, f"{recipe.name} is not a DANDI component ({source_label(recipe.source)})")
    if listed and listed != recipe.source.dandiset:
        raise RecipeError(
            path, f"listing is DANDI:{listed}, but {recipe.name} is DANDI:{recipe.source.dandiset}"
        )


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows as a fixed-width text table (numbers right-aligned, thousands separated).

    Examples
    --------
    >>> print(format_table([{"name": "h2", "tokens": 297332736}]))
    name       tokens
    h2    297,332,736
    """
    if not rows:
        return ""
    columns = list(columns or rows[0])

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return str(v)

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    numeric = [all(isinstance(r.get(c), int) or r.get(c) is None for r in rows) for c in columns]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(columns), *(line(row) for row in cells)])
