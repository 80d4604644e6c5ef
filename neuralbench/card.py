"""Dataset cards: the README.md with the YAML header the Hugging Face hub and ``datasets`` read.

A card says what a folder holds (components with tokens and sessions beside the
published figures, source links, licenses, citations), its schema, every
difference from the published corpus with a one-line reason, how it was built
(neuralbench version and the commands), and shows a raster of random rows
(``assets/raster.png``). Facts a caller does not pass come from the catalog.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from datasets import DatasetInfo, SplitDict, SplitInfo
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard, DatasetCardData

from neuralbench.schema import FEATURES

__all__ = [
    "FIXES",
    "RASTER",
    "RASTER_ROWS",
    "RASTER_SEED",
    "build_command",
    "component_table",
    "draw_raster",
    "explain_fix",
    "write_card",
]

logger = logging.getLogger(__name__)

RASTER = "assets/raster.png"
"""Where a card's raster image goes, relative to the folder."""
RASTER_ROWS, RASTER_SEED = 6, 0
"""The raster shows this many random train rows, drawn with this seed."""

FIXES: dict[str, str] = {
    "saturate-uint8": "counts above 255 saturate at 255 (the published cast wrapped them modulo 256); "
    "`n_clipped_bins` in the zarr attrs counts the bins it touched",
    "cast-uint8": "stored as uint8 like every other component (published: left in the source dtype)",
    "papale-trials-end-to-end": "trials are laid end to end in time (published: bin-major interleave of all "
    "trials, so a row was not contiguous time)",
    "athalye-sum-before-saturate": "the 4-bin sum is taken before saturating to uint8 (published: summed "
    "into uint64, monkey J rows stayed uint64)",
    "rates-negative-to-zero": "negative rates of the rate-derived counts become 0 instead of wrapping",
    "lanzarini-drop-negative-times": "spikes before time 0 are dropped explicitly (published: dropped by "
    "the histogram's range, and a spike on the final edge was lost)",
    "split-by-session": "the test split holds whole sessions drawn with a fixed seed (published: an "
    "unseeded row-level split that let sessions leak between train and test)",
}
"""Known fix names -> one-line explanation; an unknown name is listed without one."""


def explain_fix(name: str) -> str:
    """``name``'s one-line explanation, or a pointer to the recipe for names not yet described."""
    return FIXES.get(name, "see the component's recipe in neuralbench/catalog.py")


def _catalog_facts(name: str) -> dict[str, Any]:
    """What the catalog knows of a component (nothing for an unknown name)."""
    from neuralbench.catalog import RECIPES

    recipe = RECIPES.get(name)
    if recipe is None:
        return {}
    return {
        "source_url": getattr(recipe.source, "url", ""),
        "license": recipe.license,
        "cite": recipe.cite,
        "fixes": list(recipe.fixes),
        "published_sessions": recipe.expect.sessions,
        "published_tokens": recipe.expect.tokens,
    }


def _with_facts(component: Mapping[str, Any]) -> dict[str, Any]:
    facts = _catalog_facts(component["name"])
    merged = {**facts, **{k: v for k, v in component.items() if v not in (None, "")}}
    return merged


def build_command(names: Sequence[str], params: Mapping[str, Any] | None = None) -> str:
    """The commands that rebuild a folder: download the components, then build them.

    ``params`` are the merge's (``seed``, ``split_by``, ``test_size``); without
    them the command builds components only.
    """
    from neuralbench.catalog import RECIPES

    only = "" if set(names) >= set(RECIPES) else f" --only {','.join(names)}"
    build = f"neuralbench build raw out{only}"
    if params:
        build += f" --seed {params.get('seed', 0)} --split-by {params.get('split_by', 'session')}"
    return f"neuralbench download raw{only}\n{build}"


def _yaml_header(splits: Mapping[str, tuple[int, int]], licenses: Sequence[str]) -> str:
    """YAML: license, one ``default`` config whose splits are ``data/<split>-*``, features."""
    data = DatasetCardData(
        license=sorted({lic.lower() for lic in licenses}) or None,
        task_categories=["time-series-forecasting"],
        tags=["neuroscience", "spiking-neurons", "primate", "neuralbench"],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits],
            }
        ],
    )
    split_dict = SplitDict()
    for split, (rows, nbytes) in splits.items():
        split_dict.add(SplitInfo(name=split, num_examples=rows, num_bytes=nbytes))
    info = DatasetInfo(features=FEATURES, splits=split_dict)
    DatasetInfosDict({"default": info}).to_dataset_card_data(data)
    return data.to_yaml()


def _link(c: Mapping[str, Any]) -> str:
    source, url = c.get("source", ""), c.get("source_url", "")
    if url:
        return f"[{source or url}]({url})"
    return str(source)


def component_table(components: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of components: tokens and sessions built next to the published ones."""
    lines = [
        "| component | sessions | published sessions | tokens | published tokens | source | license |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for c in components:
        pub_tokens = f"{c['published_tokens']:,}" if c.get("published_tokens") else ""
        cells = [
            c["name"],
            c.get("sessions", 0),
            c.get("published_sessions") or "",
            f"{c.get('tokens', 0):,}",
            pub_tokens,
            _link(c),
            c.get("license") or "see source",
        ]
        lines.append("| " + " | ".join(str(x) for x in cells) + " |")
    return "\n".join(lines)


def _fixes_section(components: Sequence[Mapping[str, Any]], params: Mapping[str, Any] | None) -> list[str]:
    users: dict[str, list[str]] = {}
    for c in components:
        for fix in c.get("fixes", ()):
            users.setdefault(fix, []).append(c["name"])
    if params and params.get("split_by") == "session":
        users["split-by-session"] = [c["name"] for c in components]
    if not users:
        return ["None: every component matches the published build."]
    lines = []
    for fix in sorted(users):
        who = "all components" if len(users[fix]) == len(components) > 1 else ", ".join(users[fix])
        lines.append(f"- `{fix}` ({who}): {explain_fix(fix)}.")
    return lines


_SCHEMA = [
    "| column | type | value |",
    "|---|---|---|",
    "| spike_counts | List(List(uint8)) | units x time bins (20 ms unless a component says otherwise) |",
    "| subject_id | string | folder holding the source file, or the recipe's fixed name |",
    "| session_id | string | the source file's stem, or the recipe's fixed name |",
    "| segment_id | string | `segment_0`, `segment_1`, ... (at most ~10M tokens each) |",
    "| source_dataset | string | the component's name |",
]

_USAGE = """```python
from datasets import load_dataset
import numpy as np

ds = load_dataset("REPO_ID", split="train", streaming=True)  # this repository's id
row = next(iter(ds))
counts = np.asarray(row["spike_counts"], dtype=np.uint8)  # (units, time bins)
```"""


def draw_raster(folder: Path, draw: Callable[[Path], Any]) -> bool:
    """``draw(folder / RASTER)``; False (with a warning) when the data cannot be pictured.

    A full disk raises, so that the folder fails whole and a rerun redoes it; any
    other trouble drawing leaves a card without a picture, which is still a card.
    """
    try:
        draw(folder / RASTER)
    except OSError:
        raise
    except Exception as exc:
        logger.warning("%s: no raster image: %s", folder, exc)
        return False
    return True


def _raster(folder: Path, store: str | os.PathLike[str] | None) -> list[str]:
    """The markdown showing ``assets/raster.png``, drawn from the folder's train shards
    unless already there (the pipeline draws the corpus' while its shards are written)."""
    if not any((folder / "data").glob("train-*.parquet")):
        return []
    if not (folder / RASTER).exists():
        from neuralbench.viz import write_raster

        def draw(path: Path) -> None:
            write_raster(folder, path, n=RASTER_ROWS, seed=RASTER_SEED, store=store)

        if not draw_raster(folder, draw):
            return []
    return [
        "## A look at the data",
        "",
        f"![Random rows: units (y) by 20 ms time bins (x), darker = more spikes]({RASTER})",
        "",
        f"Random rows (`neuralbench show FOLDER --n {RASTER_ROWS} --seed {RASTER_SEED}`); each panel is "
        "one segment, units on y, time bins on x, darker means more spikes.",
        "",
    ]


def write_card(
    folder: str | os.PathLike[str],
    *,
    title: str,
    summary: str,
    splits: Mapping[str, tuple[int, int]],
    components: Sequence[Mapping[str, Any]],
    built_with: str = "neuralbench",
    params: Mapping[str, Any] | None = None,
    raster: bool = True,
    store: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``folder/README.md`` (and ``folder/assets/raster.png`` when ``raster``).

    Parameters
    ----------
    splits
        Split name -> (rows, bytes), for the YAML ``dataset_info``.
    components
        One mapping per component: ``name``, ``sessions``, ``tokens`` and any of
        ``source``, ``source_url``, ``license``, ``cite``, ``fixes``,
        ``published_sessions``, ``published_tokens``; the catalog fills the rest.
    params
        The merge's parameters (seed, split_by, test_size), for the build command.
    store
        The build folder the rows were exported from: the raster reads them from
        its zarr store (see :func:`neuralbench.viz.sample_segments`).
    """
    folder = Path(folder)
    comps = [_with_facts(c) for c in components]
    licenses = [c["license"] for c in comps if c.get("license")]
    cites = [
        f"- **{c['name']}**: {c['cite']}" + (f" <{c['source_url']}>" if c.get("source_url") else "")
        for c in comps
        if c.get("cite")
    ]
    names = [c["name"] for c in comps]
    split_text = ", ".join(f"{s}: {rows:,} rows" for s, (rows, _) in splits.items())
    body = [
        f"# {title}",
        "",
        summary,
        "",
        f"Splits: {split_text}. Tokens (units x bins): {sum(c.get('tokens', 0) for c in comps):,}.",
        "",
        *(_raster(folder, store) if raster else []),
        "## Components",
        "",
        "Sessions and tokens built here, beside the figures of the published corpus.",
        "",
        component_table(comps),
        "",
        "## Schema",
        "",
        *_SCHEMA,
        "",
        "## Usage",
        "",
        _USAGE,
        "",
        "## Differences from the published corpus",
        "",
        *_fixes_section(comps, params),
        "",
        "## How it was built",
        "",
        f"Built with {built_with}; each component's recipe pins its source (a DANDI version or a "
        "checksum per archive file). To rebuild:",
        "",
        "```bash",
        build_command(names, params),
        "```",
        "",
        "## Citations",
        "",
        "Cite the source datasets when you use their components:",
        "",
        *cites,
        "",
    ]
    card = DatasetCard(f"---\n{_yaml_header(splits, licenses).strip()}\n---\n\n" + "\n".join(body))
    path = folder / "README.md"
    tmp = path.with_name(".README.md.partial")
    tmp.write_text(str(card), encoding="utf-8")
    os.replace(tmp, path)
    return path
