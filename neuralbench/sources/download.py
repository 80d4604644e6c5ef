"""The download stage: one call per component, whatever its source.

:func:`download` dispatches a recipe to :func:`~neuralbench.sources.dandi.download_dandi`
or :func:`~neuralbench.sources.http.download_archive`; :func:`download_recipes`
runs it for several components and reports each one's files or error, so one
unreachable archive never stops the others (the CLI's ``neuralbench download``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from neuralbench.catalog import RECIPES, Archive, Dandi, Recipe, get_recipe
from neuralbench.errors import NeuralbenchError, RecipeError
from neuralbench.sources.dandi import download_dandi
from neuralbench.sources.fetch import FetchOptions, MapJobs
from neuralbench.sources.http import download_archive

__all__ = ["DownloadReport", "download", "download_recipes"]

logger = logging.getLogger(__name__)


def download(
    recipe: Recipe | str,
    raw_root: str | os.PathLike[str],
    *,
    map_jobs: MapJobs | None = None,
    options: FetchOptions | None = None,
    only_selected: bool = True,
) -> list[Path]:
    """Fetch a component's raw files into ``raw_root/<name>/``, as its source's tool would.

    Parameters
    ----------
    recipe
        A recipe or a component name.
    raw_root
        The raw data root.
    map_jobs
        How to run the downloads (at most ``options.max_concurrent`` at a time),
        see :class:`~neuralbench.sources.fetch.MapJobs`; ``None`` downloads
        serially here.
    options
        Concurrency, retries, re-hashing of files in place:
        :class:`~neuralbench.sources.fetch.FetchOptions`.
    only_selected
        DANDI only: fetch the assets the recipe selects, not the whole dandiset.
        An archive record is always fetched whole.

    Returns
    -------
    The files (and unpacked folders) now in place.

    Raises
    ------
    SourceError, ChecksumError
        After every file was tried, for those that failed.

    Examples
    --------
    >>> download("h2", "RAW")  # doctest: +SKIP
    [PosixPath('RAW/h2/000950/sub-T5-held-in-calib/sub-T5-held-in-calib_ses-20220518.nwb'), ...]
    """
    if isinstance(recipe, str):
        recipe = get_recipe(recipe)
    if isinstance(recipe.source, Dandi):
        return download_dandi(
            recipe, raw_root, map_jobs=map_jobs, options=options, only_selected=only_selected
        )
    if isinstance(recipe.source, Archive):
        return download_archive(recipe, raw_root, map_jobs=map_jobs, options=options)
    raise RecipeError(None, f"{recipe.name}: no downloader for {type(recipe.source).__name__}")


@dataclass
class DownloadReport:
    """What :func:`download_recipes` did, per component."""

    files: dict[str, list[Path]] = field(default_factory=dict)
    errors: dict[str, NeuralbenchError] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def download_recipes(
    raw_root: str | os.PathLike[str],
    names: Iterable[str] | None = None,
    *,
    map_jobs: MapJobs | None = None,
    options: FetchOptions | None = None,
    only_selected: bool = True,
) -> DownloadReport:
    """:func:`download` each named component (all when ``names`` is None); never stops early.

    Unknown names are refused (RecipeError) before anything is fetched. The
    components are fetched one after the other, each one's files through
    ``map_jobs`` (see :func:`download`).
    """
    recipes = [get_recipe(n) for n in (RECIPES if names is None else names)]
    report = DownloadReport()
    for recipe in recipes:
        try:
            report.files[recipe.name] = download(
                recipe, raw_root, map_jobs=map_jobs, options=options, only_selected=only_selected
            )
        except NeuralbenchError as exc:
            logger.error("%s: %s", recipe.name, exc)
            report.errors[recipe.name] = exc
    return report
