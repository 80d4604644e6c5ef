"""Dataset cards: the README.md with the YAML header the Hugging Face hub and ``datasets`` read."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from datasets import DatasetInfo, SplitDict, SplitInfo
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard, DatasetCardData

from neuralbench.schema import FEATURES

__all__ = ["write_card"]


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
            c.get("source", ""),
            c.get("license", ""),
        ]
        lines.append("| " + " | ".join(str(x) for x in cells) + " |")
    return "\n".join(lines)


def write_card(
    folder: str | os.PathLike[str],
    *,
    title: str,
    summary: str,
    splits: Mapping[str, tuple[int, int]],
    components: Sequence[Mapping[str, Any]],
    built_with: str = "neuralbench",
) -> Path:
    """Write ``folder/README.md``; ``splits`` maps split name to (rows, bytes)."""
    licenses = [c["license"] for c in components if c.get("license")]
    fixes = sorted({f for c in components for f in c.get("fixes", ())})
    cites = [f"- {c['name']}: {c['cite']}" for c in components if c.get("cite")]
    body = [
        f"# {title}",
        "",
        summary,
        "",
        "## Components",
        "",
        component_table(components),
        "",
        "## Schema",
        "",
        "| column | type | value |",
        "|---|---|---|",
        "| spike_counts | List(List(uint8)) | units x time bins (20 ms unless a component says otherwise) |",
        "| subject_id | string | folder holding the source file, or the recipe's fixed name |",
        "| session_id | string | the source file's stem, or the recipe's fixed name |",
        "| segment_id | string | `segment_0`, `segment_1`, ... (at most ~10M tokens each) |",
        "| source_dataset | string | the component's name |",
        "",
        "## Differences from the published corpus",
        "",
        *(f"- `{f}`" for f in fixes),
        "",
        "## Citations",
        "",
        *cites,
        "",
        f"Built with {built_with}; each component's recipe pins its source.",
        "",
    ]
    card = DatasetCard(f"---\n{_yaml_header(splits, licenses).strip()}\n---\n\n" + "\n".join(body))
    path = Path(folder) / "README.md"
    tmp = path.with_name(".README.md.partial")
    tmp.write_text(str(card), encoding="utf-8")
    os.replace(tmp, path)
    return path
