"""The ``neuralbench`` package: its public names load lazily, so importing it stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import neuralbench

REPO = Path(__file__).resolve().parents[1]


def test_public_names_are_the_library_functions():
    from neuralbench.pipeline import build_all
    from neuralbench.store import open_corpus
    from neuralbench.windowing import windows

    assert (neuralbench.build_all, neuralbench.open_corpus, neuralbench.windows) == (
        build_all,
        open_corpus,
        windows,
    )
    assert set(neuralbench.__all__) == {"__version__", "build_all", "open_corpus", "windows"}


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        neuralbench.nope  # noqa: B018


def test_importing_the_package_imports_neither_distributed_nor_datasets():
    code = (
        "import sys, neuralbench\n"
        "heavy = [m for m in ('distributed', 'datasets', 'zarr') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "neuralbench.windows\n"
        "assert 'distributed' not in sys.modules, 'windows imported distributed'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
