"""DANDI dandisets: list a pinned version, fetch the selected assets, or stream them.

Listing goes through the dandi package's own client
(:class:`dandi.dandiapi.DandiAPIClient`): the assets of the recipe's pinned
version, filtered by ``recipe.select`` on ``<dandiset id>/<asset path>`` (the
path below ``RAW/<name>/`` that ``dandi download DANDI:<id>`` leaves), and for
the selected ones only, their metadata with the published sha256
(``digest["dandi:sha2-256"]``). The bytes come from each asset's download URL
through :func:`neuralbench.sources.fetch.fetch_file`, which verifies, resumes and
renames into place (dandi's ``asset.download`` does neither).

The API base URL is the setting ``NEURALBENCH_DANDI_API_URL`` /
``neuralbench.sources.dandi_api`` (default https://api.dandiarchive.org/api).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuralbench.catalog import Dandi, Recipe
from neuralbench.errors import NeuralbenchError, RecipeError, SourceError
from neuralbench.sources.fetch import (
    FetchJob,
    FetchOptions,
    MapJobs,
    base_url,
    fetch_all,
    raise_failures,
)

__all__ = ["DandiAsset", "asset_urls", "download_dandi", "list_assets"]

logger = logging.getLogger(__name__)

_SHA256 = "dandi:sha2-256"
_METADATA_THREADS = 8


@dataclass(frozen=True)
class DandiAsset:
    """One asset of a dandiset version, as the pipeline needs it."""

    path: str  # below RAW/<name>/, i.e. "<dandiset id>/<asset path>"
    size: int
    sha256: str  # "" when the archive has not computed it (yet)
    url: str  # the API download URL (redirects to the blob store)
    asset_id: str


def _source(recipe: Recipe) -> Dandi:
    if not isinstance(recipe.source, Dandi):
        raise RecipeError(None, f"{recipe.name}: source is not a dandiset")
    return recipe.source


@contextlib.contextmanager
def _api(src: Dandi, api_url: str | None) -> Iterator[Any]:
    """A dandiset version on the API; API and connection failures become SourceError."""
    import requests
    from dandi.dandiapi import DandiAPIClient
    from dandi.exceptions import NotFoundError

    url = base_url("dandi_api", api_url)
    where = f"{url}/dandisets/{src.dandiset}/versions/{src.version}/"
    try:
        with DandiAPIClient(api_url=url) as client:
            yield client.get_dandiset(src.dandiset, src.version, lazy=True)
    except NeuralbenchError:
        raise
    except NotFoundError as exc:
        raise SourceError(where, f"not found on the DANDI API ({exc})") from exc
    except (requests.RequestException, RuntimeError, ValueError) as exc:
        raise SourceError(where, f"DANDI API request failed ({exc})") from exc


def list_assets(
    recipe: Recipe, *, api_url: str | None = None, only_selected: bool = True
) -> list[DandiAsset]:
    """The assets of the recipe's pinned dandiset version, with sizes and sha256.

    Parameters
    ----------
    recipe
        A recipe with a :class:`~neuralbench.catalog.Dandi` source.
    api_url
        The DANDI API base URL, overriding the setting.
    only_selected
        Keep only the assets ``recipe.select`` picks (the sessions); if false,
        every asset of the version (raw videos included: mind the size).

    Returns
    -------
    The assets in build order (sorted path).
    """
    src = _source(recipe)
    with _api(src, api_url) as ds:
        by_path = {f"{src.dandiset}/{a.path}": a for a in ds.get_assets(order="path")}
        keep = recipe.select(by_path) if only_selected else sorted(by_path)
        chosen = [by_path[p] for p in keep]
        with ThreadPoolExecutor(_METADATA_THREADS) as pool:
            metadata = list(pool.map(lambda a: a.get_raw_metadata(), chosen))
        out = []
        for path, asset, meta in zip(keep, chosen, metadata, strict=True):
            sha256 = (meta.get("digest") or {}).get(_SHA256, "")
            if not sha256:
                logger.warning("%s: DANDI publishes no sha256; checking the size only", path)
            out.append(DandiAsset(path, asset.size, sha256, asset.base_download_url, asset.identifier))
    logger.info("DANDI:%s/%s: %d assets listed", src.dandiset, src.version, len(out))
    return out


def asset_urls(recipe: Recipe, *, api_url: str | None = None) -> dict[str, str]:
    """``{path below RAW/<name>: download URL}`` of the selected assets, for streaming.

    A reader opens such a URL without a local copy (``open_h5`` reads it through
    ``remfile``): ``get_reader("nwb-units").open_session(url)``.
    """
    return {a.path: a.url for a in list_assets(recipe, api_url=api_url)}


def download_dandi(
    recipe: Recipe,
    raw_root: str | os.PathLike[str],
    *,
    map_jobs: MapJobs | None = None,
    options: FetchOptions | None = None,
    only_selected: bool = True,
    api_url: str | None = None,
) -> list[Path]:
    """Fetch the recipe's assets to ``raw_root/<name>/<dandiset id>/...``, verified.

    The layout is the one ``dandi download DANDI:<id>`` leaves, ``dandiset.yaml``
    included. A rerun fetches only what is missing or incomplete.

    Parameters
    ----------
    recipe
        A recipe with a :class:`~neuralbench.catalog.Dandi` source.
    raw_root
        The raw data root.
    map_jobs, options
        How to run the downloads (:class:`~neuralbench.sources.fetch.MapJobs`;
        ``None``: serially here), and :class:`~neuralbench.sources.fetch.FetchOptions`.
    only_selected
        Only the assets ``recipe.select`` keeps (the default).
    api_url
        The DANDI API base URL, overriding the setting.

    Returns
    -------
    The asset files, in build order.

    Raises
    ------
    ChecksumError, SourceError
        After every asset was tried, for those that failed.
    """
    src = _source(recipe)
    root = Path(raw_root) / recipe.name
    assets = list_assets(recipe, api_url=api_url, only_selected=only_selected)
    _write_dandiset_yaml(src, root / src.dandiset, api_url)
    jobs = [FetchJob(a.url, root / a.path, sha256=a.sha256, size=a.size) for a in assets]
    paths, errors = fetch_all(jobs, map_jobs=map_jobs, options=options)
    raise_failures(root, len(jobs), errors)
    return paths


def _write_dandiset_yaml(src: Dandi, folder: Path, api_url: str | None) -> None:
    """``dandiset.yaml`` as dandi writes it, from the version's metadata; best effort."""
    from dandi.dandiset import Dandiset

    dest = folder / "dandiset.yaml"
    try:
        with _api(src, api_url) as ds:
            metadata = ds.get_raw_metadata()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".partial")
        tmp.write_text(Dandiset.get_dandiset_record(metadata))
        tmp.replace(dest)
    except (SourceError, OSError) as exc:
        logger.warning("%s: not written (%s)", dest, exc)
