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
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
from datasets import DatasetInfo, SplitDict, SplitInfo
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard, DatasetCardData

from neuralbench.schema import FEATURES, ID_COLUMNS, portable_yaml_features

if TYPE_CHECKING:
    from neuralbench.catalog import Recipe

__all__ = [
    "FIXES",
    "RASTER",
    "RASTER_ROWS",
    "RASTER_SEED",
    "build_command",
    "component_facts",
    "component_table",
    "corpus_facts",
    "draw_raster",
    "bin_width_text",
    "explain_fix",
    "set_repo_id",
    "size_category",
    "split_sizes",
    "write_card",
]

logger = logging.getLogger(__name__)

RASTER = "assets/raster.png"
"""Where a card's raster image goes, relative to the folder."""
DEFAULT_BIN_S = 0.02
"""The corpus' bin width; components that keep another say so in their card."""
RASTER_ROWS, RASTER_SEED = 6, 0
"""The raster shows this many random train rows, drawn with this seed."""

FIXES: dict[str, str] = {
    "saturate-uint8": "counts above 255 saturate at 255 (the published cast wrapped them modulo 256); "
    "`n_clipped_bins` in the zarr attrs counts the bins it touched",
    "cast-uint8": "every row is stored as uint8 (published: monkey J's 4-bin sums were uint64 and stayed so)",
    "papale-trials-end-to-end": "trials are laid end to end in time (published: bin-major interleave of all "
    "trials, so a row was not contiguous time)",
    "athalye-sum-before-saturate": "monkey J's 5 ms counts are summed in 4s from the source integers, then "
    "saturated to uint8 (published: each 5 ms count was cast to uint8 first, wrapping above 255, then "
    "summed)",
    "rates-negative-to-zero": "negative rates of the rate-derived counts become 0 instead of wrapping",
    "lanzarini-drop-negative-times": "spikes before time 0 are dropped (published: no range check, so "
    "truncation put -0.02 s < t < 0 into bin 0 and larger negative times wrapped to the end of the row); "
    "a spike exactly on the final edge is still lost, as published",
    "lanzarini-column-vectors-whole": "a spike-time variable stored as a column vector (N, 1) counts its "
    "N spikes (published: the first row of the variable was taken, 1 spike)",
    "split-by-session": "the test split holds whole sessions drawn with a fixed seed, aiming at 1 % of "
    "the tokens and never more than half (published: an unseeded row-level split that let sessions leak "
    "between train and test)",
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
        "bin_width": bin_width_text(recipe.params, recipe.overrides),
    }


def component_facts(recipe: Recipe) -> dict[str, Any]:
    """What a component's card says of where it comes from: the build passes this to the card task."""
    from neuralbench import __version__

    src = recipe.source
    source = f"DANDI:{src.dandiset}@{src.version}" if hasattr(src, "dandiset") else f"{src.kind}:{src.record}"
    return {
        "name": recipe.name,
        "source": source,
        "license": recipe.license,
        "cite": recipe.cite,
        "fixes": list(recipe.fixes),
        "published_sessions": recipe.expect.sessions,
        "published_tokens": recipe.expect.tokens,
        "built_with": f"neuralbench {__version__}",
        "summary": f"Spike counts of the `{recipe.name}` component, one row per segment of <= 10M tokens.",
    }


def corpus_facts(recipes: Sequence[Recipe]) -> dict[str, Any]:
    """The merged corpus card's facts: each component's, and what the corpus is."""
    from neuralbench import __version__

    return {
        "components": {r.name: component_facts(r) for r in recipes},
        "built_with": f"neuralbench {__version__}",
        "summary": "Spike counts of primate neurons in 20 ms bins (units x bins, uint8), one row per "
        "segment of at most 10M tokens, shuffled with a fixed seed; the test split holds whole sessions.",
    }


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.3g} ms"


def bin_width_text(params: Mapping[str, Any], overrides: Sequence[tuple[str, Mapping[str, Any]]] = ()) -> str:
    """A component's bin width in words: ``20 ms``, or ``20 ms (sub-monk-g: 16.7 ms)``."""
    text = _ms(params.get("bin_size_s", DEFAULT_BIN_S))
    special = [
        f"{pattern.strip('*/')}: {_ms(extra['bin_size_s'])}"
        for pattern, extra in overrides
        if "bin_size_s" in extra
    ]
    return text + (f" ({'; '.join(special)})" if special else "")


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


_SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                    (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"))  # fmt: skip


def size_category(rows: int) -> str:
    """The hub's ``size_categories`` value for a dataset of ``rows`` examples."""
    return next((cat for limit, cat in _SIZE_CATEGORIES if rows < limit), "n>10M" if rows else "n<1K")


def split_sizes(folder: Path, split: str) -> tuple[int, int]:
    """``(num_bytes, download_bytes)`` of ``folder/data/<split>-*.parquet``.

    ``num_bytes`` is the split's size in memory as ``datasets`` counts it (its
    Arrow buffers: one byte per uint8 count, list offsets, the id strings), read
    from the parquet metadata; ``download_bytes`` is the files' size on disk.
    """
    num_bytes = download = 0
    for path in sorted((folder / "data").glob(f"{split}-*.parquet")):
        download += path.stat().st_size
        pf = pq.ParquetFile(path)
        ids = pf.read(columns=list(ID_COLUMNS))  # small: the strings' exact Arrow size
        groups = [pf.metadata.row_group(rg) for rg in range(pf.metadata.num_row_groups)]
        # spike_counts: its uint8 values and one int32 offset per row (the units' offsets,
        # 4 bytes per unit, are not in the metadata: under 0.1 % of any real row)
        counts = sum(g.column(0).num_values + 4 * (g.num_rows + 1) for g in groups)
        num_bytes += ids.nbytes + counts
    return num_bytes, download


def _license_fields(comps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``license`` (SPDX ids, lower case), and for sources without one ``other`` with a name and link."""
    known = sorted({c["license"].lower() for c in comps if c.get("license")})
    unknown = [c for c in comps if not c.get("license")]
    if not unknown:
        return {"license": known or None}
    link = unknown[0].get("source_url") if len(comps) == 1 else None
    return {
        "license": [*known, "other"],
        "license_name": "source-terms",
        "license_link": link or "README.md",  # the component table names each source's terms
    }


def _yaml_header(
    folder: Path, title: str, splits: Mapping[str, int], comps: Sequence[Mapping[str, Any]]
) -> str:
    """YAML: name, license, size, one ``default`` config of ``data/<split>-*``, features, sizes."""
    data = DatasetCardData(
        pretty_name=title,
        **_license_fields(comps),
        size_categories=[size_category(sum(splits.values()))],
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
    download_size = 0
    for split, rows in splits.items():
        num_bytes, on_disk = split_sizes(folder, split)
        download_size += on_disk
        split_dict.add(SplitInfo(name=split, num_examples=rows, num_bytes=num_bytes))
    info = DatasetInfo(
        features=FEATURES,
        splits=split_dict,
        download_size=download_size,
        dataset_size=sum(s.num_bytes for s in split_dict.values()),
    )
    DatasetInfosDict({"default": info}).to_dataset_card_data(data)
    data["dataset_info"]["features"] = portable_yaml_features(data["dataset_info"]["features"])
    return data.to_yaml()


def _link(c: Mapping[str, Any]) -> str:
    source, url = c.get("source", ""), c.get("source_url", "")
    if url:
        return f"[{source or url}]({url})"
    return str(source)


def component_table(components: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of components: tokens and sessions built next to the published ones."""
    lines = [
        "| component | bin width | sessions | published sessions | tokens | published tokens | source "
        "| license |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for c in components:
        pub_tokens = f"{c['published_tokens']:,}" if c.get("published_tokens") else ""
        cells = [
            c["name"],
            c.get("bin_width") or _ms(DEFAULT_BIN_S),
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


def _schema(width: str) -> list[str]:
    return [
        "| column | type | value |",
        "|---|---|---|",
        f"| spike_counts | List(List(uint8)) | units x time bins of {width} |",
        "| subject_id | string | folder holding the source file, or the recipe's fixed name |",
        "| session_id | string | the source file's stem, or the recipe's fixed name |",
        "| segment_id | string | `segment_0`, `segment_1`, ... (at most ~10M tokens each) |",
        "| source_dataset | string | the component's name |",
    ]


REPO_PLACEHOLDER = "OWNER/NAME"
"""The repository id of a card not yet pushed; :func:`set_repo_id` fills in the real one."""

_USAGE = """```python
import numpy as np
from datasets import load_dataset

ds = load_dataset("{repo}", split="train")
ds = ds.with_format("numpy", dtype=np.uint8)  # the default widens uint8 to int64: 8x the memory
counts = ds[0]["spike_counts"]  # (units, time bins), uint8
```

Rows differ in units and bins, so batch them one row per sample; PyTorch's default
collate cannot stack them:

```python
from torch.utils.data import DataLoader

loader = DataLoader(ds, batch_size=None, shuffle=True)  # one (units, bins) array per step
```

To read without downloading everything first, `load_dataset(..., streaming=True)`."""

_LOAD_CALL = re.compile(r'load_dataset\("[^"]*"')


def set_repo_id(card_path: str | os.PathLike[str], repo_id: str) -> None:
    """Write ``repo_id`` into the usage snippet of the card at ``card_path`` (``neuralbench push``)."""
    path = Path(card_path)
    text = path.read_text(encoding="utf-8")
    new = _LOAD_CALL.sub(f'load_dataset("{repo_id}"', text)
    if new != text:
        _write_text(path, new)


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


def _raster(folder: Path, store: str | os.PathLike[str] | None, width: str) -> list[str]:
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
        f"![Random rows: units (y) by time bins of {width} (x), darker = more spikes]({RASTER})",
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
    splits: Mapping[str, int],
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
        Split name -> rows; the YAML's sizes are measured from ``folder/data``.
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
    width = _bin_width(comps)
    split_text = ", ".join(f"{s}: {rows:,} rows" for s, rows in splits.items())
    body = [
        f"# {title}",
        "",
        summary,
        "",
        f"Splits: {split_text}. Tokens (units x bins): {sum(c.get('tokens', 0) for c in comps):,}.",
        "",
        *(_raster(folder, store, width) if raster else []),
        *_reference_sections(comps, width, params),
        *_provenance_sections(comps, built_with, params),
    ]
    header = _yaml_header(folder, title, splits, comps).strip()
    return _write_text(folder / "README.md", str(DatasetCard(f"---\n{header}\n---\n\n" + "\n".join(body))))


def _bin_width(comps: Sequence[Mapping[str, Any]]) -> str:
    """The bin width every component shares, or the default one with a pointer to the table."""
    widths = {c.get("bin_width") or _ms(DEFAULT_BIN_S) for c in comps}
    return widths.pop() if len(widths) == 1 else f"{_ms(DEFAULT_BIN_S)} (see each component's bin width)"


def _reference_sections(
    comps: Sequence[Mapping[str, Any]], width: str, params: Mapping[str, Any] | None
) -> list[str]:
    """What a user reads before using the rows: components, schema, usage, differences."""
    return [
        "## Components",
        "",
        "Sessions and tokens built here, beside the figures of the published corpus.",
        "",
        component_table(comps),
        "",
        "## Schema",
        "",
        *_schema(width),
        "",
        "## Usage",
        "",
        _USAGE.replace("{repo}", REPO_PLACEHOLDER),
        "",
        "## Differences from the published corpus",
        "",
        *_fixes_section(comps, params),
        "",
    ]


def _provenance_sections(
    comps: Sequence[Mapping[str, Any]], built_with: str, params: Mapping[str, Any] | None
) -> list[str]:
    """Where the rows come from: the command that rebuilds them and the sources to cite."""
    cites = [
        f"- **{c['name']}**: {c['cite']}" + (f" <{c['source_url']}>" if c.get("source_url") else "")
        for c in comps
        if c.get("cite")
    ]
    return [
        "## How it was built",
        "",
        f"Built with {built_with}; each component's recipe pins its source (a DANDI version or a "
        "checksum per archive file). To rebuild:",
        "",
        "```bash",
        build_command([c["name"] for c in comps], params),
        "```",
        "",
        "## Citations",
        "",
        "Cite the source datasets when you use their components:",
        "",
        *cites,
        "",
    ]


def _write_text(path: Path, text: str) -> Path:
    """Write ``path`` through a partial name, so a reader never sees half a card."""
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
