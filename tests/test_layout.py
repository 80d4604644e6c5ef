"""The build layout: its paths, its keys, and that no other module spells a build folder."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest

import neuralbench
from neuralbench.layout import BuildLayout, SegmentKey, SessionKey, partial_path
from neuralbench.schema import ID_COLUMNS

PACKAGE = Path(neuralbench.__file__).parent
KEY = SessionKey("kim", "sub-1", "ses-a")


def test_every_path_of_a_build(tmp_path):
    out = BuildLayout(tmp_path)
    assert out.report == tmp_path / "report.json"
    assert out.zarr_dir == tmp_path / "zarr"
    assert out.store("kim") == tmp_path / "zarr" / "kim.zarr"
    assert out.session_group(KEY) == tmp_path / "zarr" / "kim.zarr" / "sub-1" / "ses-a"
    assert out.zarr_partial_dir == tmp_path / "zarr" / ".partial"
    assert out.session_partial(KEY) == tmp_path / "zarr" / ".partial" / "kim" / "sub-1" / "ses-a"
    assert out.components_dir == tmp_path / "components"
    assert out.component_dir("kim") == tmp_path / "components" / "kim"
    assert out.staging_dir == tmp_path / "components" / ".staging"
    assert out.component_staging("kim") == tmp_path / "components" / ".staging" / "kim"
    assert out.session_staging(KEY) == tmp_path / "components" / ".staging" / "kim" / "sub-1" / "ses-a"
    assert (
        out.rows_dir(KEY, "abc") == tmp_path / "components" / ".staging" / "kim" / "sub-1" / ".ses-a.rows-abc"
    )
    assert out.staged_partial("f00") == tmp_path / "components" / ".staged-f00.partial"
    assert out.corpus_dir == tmp_path / "corpus"


def test_component_of_a_store_path(tmp_path):
    out = BuildLayout(tmp_path)
    assert BuildLayout.component_of(out.store("m1-a")) == "m1-a"
    assert sorted(p.name for p in out.zarr_dir.glob(out.STORE_GLOB)) == []
    out.store("m1-a").mkdir(parents=True)
    out.zarr_partial_dir.mkdir()
    assert [BuildLayout.component_of(p) for p in out.zarr_dir.glob(out.STORE_GLOB)] == ["m1-a"]


def test_of_takes_a_path_a_string_or_a_layout(tmp_path):
    layout = BuildLayout.of(tmp_path)
    assert BuildLayout.of(layout) is layout
    assert BuildLayout.of(str(tmp_path)) == layout and isinstance(layout.out_dir, Path)
    assert BuildLayout(str(tmp_path)).out_dir == tmp_path  # a string is made a Path
    assert Path(layout) == tmp_path  # os.fspath: a layout goes wherever a path does


def test_a_layout_is_a_frozen_picklable_value(tmp_path):
    layout = BuildLayout(tmp_path)
    again = pickle.loads(pickle.dumps(layout))
    assert again == layout and hash(again) == hash(layout)
    with pytest.raises(AttributeError):
        layout.out_dir = tmp_path / "other"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(KEY)) == KEY


def test_session_key_order_and_text():
    assert KEY._fields == ("component", "subject", "session")
    component, subject, session = KEY
    assert (component, subject, session) == ("kim", "sub-1", "ses-a")
    assert str(KEY) == "kim/sub-1/ses-a"
    assert KEY == ("kim", "sub-1", "ses-a")  # a NamedTuple: old tuple callers still compare equal


def test_a_session_ref_knows_its_key():
    from neuralbench.session import SessionRef

    assert SessionRef("kim", "sub-1/ses-a.nwb", "sub-1", "ses-a").key == KEY


def test_segment_key_columns_are_the_published_order():
    seg = SegmentKey(KEY, "segment_1")
    assert ID_COLUMNS == ("subject_id", "session_id", "segment_id", "source_dataset")
    assert dict(zip(ID_COLUMNS, seg.columns, strict=True)) == {
        "subject_id": "sub-1",
        "session_id": "ses-a",
        "segment_id": "segment_1",
        "source_dataset": "kim",
    }
    assert SegmentKey.from_columns(*seg.columns) == seg
    assert str(seg) == "kim/sub-1/ses-a/segment_1"


def test_partial_path_is_hidden_beside_the_final_name(tmp_path):
    assert partial_path(tmp_path / "corpus") == tmp_path / ".corpus.partial"
    assert partial_path(tmp_path / "report.json") == tmp_path / ".report.json.partial"


# folder names of a build: spelled only in layout.py
_ANYWHERE = {".staging", "report.json", ".zarr", "*.zarr", ".rows-", ".staged-"}
"""Strings that are only ever a build's file or folder names."""
_AS_PATH = {"zarr", "components", "corpus"}
"""Words that are also report keys or engine names: flagged where they join a path."""


def _spelled_folders(tree: ast.AST) -> list[tuple[int, str]]:
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            operands = (node.left, node.right)
        elif (
            isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Path"
        ):
            operands = tuple(node.args)
        else:
            operands = ()
        for op in operands:
            if isinstance(op, ast.Constant) and isinstance(op.value, str) and op.value.strip("/") in _AS_PATH:
                found.append((op.lineno, op.value))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if any(word in node.value for word in _ANYWHERE) and ".zarr.json" not in node.value:
                found.append((node.lineno, node.value))
    return sorted(found)


def test_no_module_but_layout_spells_a_build_folder():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "layout.py":
            continue
        for line, text in _spelled_folders(ast.parse(path.read_text(), str(path))):
            offenders.append(f"{path.relative_to(PACKAGE)}:{line}: {text!r}")
    assert not offenders, "build folders spelled outside layout.py:\n" + "\n".join(offenders)


def test_the_folder_check_finds_what_it_looks_for():
    src = 'a = out / "zarr"\nb = Path("components") / x\nc = f"{name}.zarr"\nd = "report.json"\n'
    assert [line for line, _ in _spelled_folders(ast.parse(src))] == [1, 2, 3, 4]
    ok = 'e = open_zarr(p, engine="zarr")\nf = report["components"]\n"""OUT/zarr/<c>.zarr"""\n'
    assert _spelled_folders(ast.parse(ok)) == []
