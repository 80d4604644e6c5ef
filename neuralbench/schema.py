"""The row schema of the published corpus, as Hugging Face features and an Arrow schema."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from datasets import Features, List, Value

__all__ = ["FEATURES", "ID_COLUMNS", "SCHEMA", "segment_table"]

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

SCHEMA: pa.Schema = FEATURES.arrow_schema
"""Arrow schema with the ``huggingface`` metadata ``datasets`` reads back."""

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
