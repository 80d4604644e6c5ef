"""The row schema of the published corpus, as Hugging Face features and an Arrow schema.

The features are written down (parquet metadata, card YAML) in the form every
``datasets`` version reads: ``Sequence`` of ``Sequence`` of ``uint8``, which
``datasets`` 4 and 5 read back as ``List(List(Value('uint8')))`` and 3.x as the
``Sequence(Sequence(Value('uint8')))`` of the published components, so our
parquet concatenates with theirs under either. (``datasets`` 4 writes ``List``,
which 3.x reads as a plain python list of features, ``[[Value('uint8')]]``, that
``concatenate_datasets`` refuses to align with a published component.)
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
from datasets import Features, List, Value

__all__ = ["FEATURES", "ID_COLUMNS", "SCHEMA", "portable_features", "portable_yaml_features", "segment_table"]

FEATURES = Features(
    {
        "spike_counts": List(List(Value("uint8"))),
        "subject_id": Value("string"),
        "session_id": Value("string"),
        "segment_id": Value("string"),
        "source_dataset": Value("string"),
    }
)
"""One row per segment: counts (units x bins) and four string ids."""


def portable_features(node: Any) -> Any:
    """``Features.to_dict()`` output with each ``List`` (no fixed length) written as ``Sequence``."""
    if isinstance(node, list):
        return [portable_features(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: portable_features(v) for k, v in node.items()}
    if out.get("_type") == "List" and out.get("length", -1) == -1:
        out = {"feature": out["feature"], "_type": "Sequence"}
    return out


def portable_yaml_features(node: Any) -> Any:
    """The card YAML's ``features`` with each ``list:`` key written as ``sequence:``."""
    if isinstance(node, list):
        return [portable_yaml_features(x) for x in node]
    if not isinstance(node, dict):
        return node
    return {("sequence" if k == "list" else k): portable_yaml_features(v) for k, v in node.items()}


SCHEMA: pa.Schema = FEATURES.arrow_schema.with_metadata(
    {"huggingface": json.dumps({"info": {"features": portable_features(FEATURES.to_dict())}})}
)
"""Arrow schema with the ``huggingface`` metadata every ``datasets`` version reads back."""

ID_COLUMNS = ("subject_id", "session_id", "segment_id", "source_dataset")


def segment_table(
    counts: np.ndarray, subject_id: str, session_id: str, segment_id: str, source_dataset: str
) -> pa.Table:
    """A one-row table for a ``(units, bins)`` uint8 segment, built without copying the counts."""
    counts = np.ascontiguousarray(counts, dtype=np.uint8)
    n_units, n_bins = counts.shape
    if counts.size >= 2**31:
        raise ValueError(f"a segment of {counts.size} tokens is too large for one parquet row")
    inner_offsets = pa.array(np.arange(n_units + 1, dtype=np.int32) * np.int32(n_bins))
    rows = pa.ListArray.from_arrays(inner_offsets, pa.array(counts.ravel(), type=pa.uint8()))
    outer = pa.ListArray.from_arrays(pa.array([0, n_units], type=pa.int32()), rows)
    columns = [outer] + [
        pa.array([v], type=pa.string()) for v in (subject_id, session_id, segment_id, source_dataset)
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)
