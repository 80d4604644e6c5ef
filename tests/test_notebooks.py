"""Every notebook runs headless, cell by cell, on a small synthetic build."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def _kernel() -> str:
    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:  # pragma: no cover - ipykernel ships this spec
        pytest.skip("no python3 kernelspec (install ipykernel)")
    return "python3"


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert {"01_explore_corpus.ipynb", "02_build_on_a_cluster.ipynb", "03_train_a_model.ipynb"} <= set(names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, built, tmp_path, monkeypatch):
    if path.name.startswith("03"):
        pytest.importorskip("torch")  # the training notebook needs the torch extra
    raw, out, _ = built
    # the kernel inherits this environment: the worktree's package, the build, no writes to $HOME
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("NEURALBENCH_OUT", str(out))
    monkeypatch.setenv("NEURALBENCH_RAW", str(raw))
    monkeypatch.setenv("NEURALBENCH_ONLY", "xiao,rajalingham")
    monkeypatch.setenv("NEURALBENCH_BUILD_OUT", str(tmp_path))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws PNG outputs
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, kernel_name=_kernel(), timeout=600, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert not errors
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    if path.name.startswith("01"):
        assert len(images) >= 4  # raster, rate histograms, token bars, sample grid
    elif path.name.startswith("02"):
        text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
        assert "dashboard: http" in text and "[4/4] " in text  # 2 components x 2 sessions
    else:
        text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
        assert "train loss: first 20 steps" in text and "test Poisson NLL: model" in text
