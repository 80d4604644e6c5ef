"""neuralbench.schema: the published row schema, written so that every ``datasets`` version reads it."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Features, List, Value, load_dataset

from neuralbench.schema import (
    FEATURES,
    ID_COLUMNS,
    SCHEMA,
    portable_features,
    portable_yaml_features,
    segment_table,
)


def test_schema_is_the_published_one():
    assert SCHEMA.names == ["spike_counts", *ID_COLUMNS]
    assert ID_COLUMNS == ("subject_id", "session_id", "segment_id", "source_dataset")
    assert SCHEMA.field("spike_counts").type == pa.list_(pa.list_(pa.uint8()))
    assert all(SCHEMA.field(c).type == pa.string() for c in ID_COLUMNS)
    written = json.loads(SCHEMA.metadata[b"huggingface"])["info"]["features"]
    assert written["spike_counts"] == {
        "feature": {"feature": {"dtype": "uint8", "_type": "Value"}, "_type": "Sequence"},
        "_type": "Sequence",
    }
    assert Features.from_dict(written) == FEATURES  # read back as List(List(Value('uint8')))


def test_portable_features_write_only_unsized_lists_as_sequence():
    nested = Features({"a": List(List(Value("int32"))), "b": List(Value("string"), length=3)}).to_dict()
    out = portable_features(nested)
    assert out["a"] == {
        "feature": {"feature": {"dtype": "int32", "_type": "Value"}, "_type": "Sequence"},
        "_type": "Sequence",
    }
    assert out["b"] == nested["b"]  # a fixed length stays a List
    assert portable_features([nested, 1]) == [out, 1]
    yaml = [{"name": "spike_counts", "list": {"list": "uint8"}}, {"name": "subject_id", "dtype": "string"}]
    assert portable_yaml_features(yaml) == [
        {"name": "spike_counts", "sequence": {"sequence": "uint8"}},
        {"name": "subject_id", "dtype": "string"},
    ]


def test_segment_table_holds_the_counts_without_copying_them():
    counts = np.random.default_rng(0).integers(0, 256, (7, 31), dtype=np.uint8)
    table = segment_table(counts, "S1", "S1_ses-2", "segment_3", "h2")
    assert table.schema.equals(SCHEMA, check_metadata=True) and table.num_rows == 1
    row = table.to_pylist()[0]
    assert row["spike_counts"] == counts.tolist()
    assert [row[c] for c in ID_COLUMNS] == ["S1", "S1_ses-2", "segment_3", "h2"]
    values = table.column("spike_counts").chunk(0).values.values
    assert values.buffers()[1].address == counts.ctypes.data  # the table points at the array
    wide = segment_table(np.asfortranarray(counts).astype(np.int64), "S1", "S1_ses-2", "segment_3", "h2")
    assert wide.equals(table)  # another layout or dtype: converted, same row


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (4, 0)])
def test_empty_segments_keep_their_shape(shape):
    row = segment_table(np.zeros(shape, np.uint8), "S", "s", "segment_0", "x").to_pylist()[0]
    assert len(row["spike_counts"]) == shape[0]
    assert all(len(unit) == shape[1] for unit in row["spike_counts"])


def test_written_rows_load_with_datasets_as_the_published_features(tmp_path):
    rng = np.random.default_rng(1)
    tables = [segment_table(rng.integers(0, 9, (3, 10 + i), dtype=np.uint8), "S", f"s{i}", "segment_0", "x")
              for i in range(3)]  # fmt: skip
    (tmp_path / "data").mkdir()
    pq.write_table(pa.concat_tables(tables), tmp_path / "data" / "train-00000-of-00001.parquet")
    ds = load_dataset(str(tmp_path), split="train")
    assert ds.features == FEATURES
    assert [len(r["spike_counts"][0]) for r in ds] == [10, 11, 12]
    assert ds.data.schema.field("spike_counts").type == pa.list_(pa.list_(pa.uint8()))
