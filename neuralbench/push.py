"""Push a hub folder (the merged corpus or one component) to a Hugging Face dataset repository.

``huggingface_hub`` does the transfer. From version 1.x on, ``HfApi.upload_folder``
is the resumable upload: with ``hf_xet`` installed it asks the hub (``preupload``)
which files it already holds, drops unchanged ones, and commits in batches, so a
rerun after an interruption sends only what is missing. Older versions offer
the same as ``upload_large_folder``, which is used when present. The token
comes from huggingface_hub's usual resolution (``HF_TOKEN``, ``hf auth login``)
unless given; it is never logged.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from neuralbench.card import set_repo_id
from neuralbench.errors import SourceError
from neuralbench.layout import BuildLayout

__all__ = ["IGNORE", "push_folder", "resolve_folder"]

logger = logging.getLogger(__name__)

IGNORE = [".neuralbench.json", "*.partial", ".*.partial*", "**/.*.partial*", ".cache/**"]
"""Local bookkeeping that never goes to the hub (manifests, unfinished writes)."""


def resolve_folder(path: str | os.PathLike[str], component: str | None = None) -> Path:
    """The hub folder to push: ``path`` itself, or ``OUT/corpus`` / ``OUT/components/<component>``.

    Raises
    ------
    SourceError
        The folder has no ``README.md`` and ``data/`` (not a finished build).
    """
    path = Path(path)
    build = BuildLayout(path)
    if component:
        folder = build.component_dir(component) if build.components_dir.is_dir() else path
        if folder.name != component or not folder.is_dir():
            rel = build.component_dir(component).relative_to(path)
            raise SourceError(path, f"no {rel.as_posix()} folder here")
    elif build.corpus_dir.is_dir() and not (path / "data").is_dir():
        folder = build.corpus_dir
    else:
        folder = path
    if not (folder / "README.md").is_file() or not any((folder / "data").glob("*.parquet")):
        raise SourceError(folder, "not a finished hub folder (README.md and data/*.parquet)")
    return folder


def push_folder(
    folder: str | os.PathLike[str],
    repo_id: str,
    *,
    component: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """Create ``repo_id`` (a dataset repository) if needed and upload the folder into it.

    Parameters
    ----------
    folder
        A hub folder, or a build's ``OUT`` (then ``OUT/corpus``, or
        ``OUT/components/<component>`` with ``component``).
    repo_id
        ``owner/name`` on the hub.
    endpoint
        The hub's URL; default ``HF_ENDPOINT`` or https://huggingface.co.
    token
        Default: huggingface_hub's own resolution (``HF_TOKEN``, saved login).

    Returns
    -------
    dict
        ``repo_id``, ``folder``, ``files`` (how many were offered), ``commit``
        (the commit URL) and ``oid``.

    Examples
    --------
    >>> push_folder("demo-out", "me/neuralbench-demo", private=True)  # doctest: +SKIP
    """
    from huggingface_hub import HfApi

    folder = resolve_folder(folder, component)
    set_repo_id(folder / "README.md", repo_id)  # the card's usage snippet names this repository
    api = HfApi(endpoint=endpoint, token=token)
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    logger.info("pushing %s to %s", folder, url)
    files = [p for p in folder.rglob("*") if p.is_file() and not _ignored(p.relative_to(folder))]
    kwargs: dict[str, Any] = dict(repo_id=repo_id, folder_path=folder, repo_type="dataset", revision=revision)
    if hasattr(api, "upload_large_folder"):  # huggingface_hub < 1.x: the resumable API
        api.upload_large_folder(**kwargs, ignore_patterns=IGNORE, private=private)
        info = api.dataset_info(repo_id, revision=revision)
        commit_url, oid = f"{api.endpoint}/datasets/{repo_id}/commit/{info.sha}", info.sha
    else:
        msg = message or f"Upload {folder.name} with neuralbench"
        result = api.upload_folder(**kwargs, ignore_patterns=list(IGNORE), commit_message=msg)
        commit_url, oid = result.commit_url, result.oid
    return {"repo_id": repo_id, "folder": str(folder), "files": len(files), "commit": commit_url, "oid": oid}


def _ignored(rel: Path) -> bool:
    from fnmatch import fnmatch

    return any(fnmatch(rel.as_posix(), pat) for pat in IGNORE)
