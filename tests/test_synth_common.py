"""The sizes of a synthetic tree, and the hidden name a synthetic file is written under."""

from __future__ import annotations

from neuralbench._synth_common import hidden_partial
from neuralbench.sources.local import list_files


def test_a_file_being_written_is_hidden_and_keeps_its_suffix(tmp_path):
    dest = tmp_path / "sub-a" / "sub-a_ses-1.nwb"
    tmp = hidden_partial(dest)
    assert tmp.parent.is_dir() and tmp.parent == dest.parent  # the folder is made
    assert tmp.name == ".sub-a_ses-1.nwb.partial.nwb"
    tmp.write_bytes(b"half")
    assert list_files(tmp_path) == []  # never listed as a session
    tmp.replace(dest)
    assert list_files(tmp_path) == ["sub-a/sub-a_ses-1.nwb"]

