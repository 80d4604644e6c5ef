"""Where a build's outputs live: the one module that spells the folders of ``OUT``.

A build folder holds::

    OUT/report.json                                     the run report
    OUT/zarr/<component>.zarr/<subject>/<session>/      a stored session (zarr group)
    OUT/zarr/.partial/<component>/<subject>/<session>/  a session being written
    OUT/components/<component>/                         a component's parquet folder (HF layout)
    OUT/components/.staging/<component>/<subject>/<session>/         a session's parquet parts
    OUT/components/.staging/<component>/<subject>/.<session>.rows-<digest>/  its one-row files
    OUT/corpus/                                         the shuffled merged corpus

:class:`BuildLayout` is a frozen value (picklable: it travels to the workers) that
turns a component or a :class:`SessionKey` into these paths; nothing here touches
the disk. :class:`SessionKey` is how a session travels between stages, always in
the order ``(component, subject, session)``; :class:`SegmentKey` names one row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

__all__ = ["PARTIAL", "BuildLayout", "SegmentKey", "SessionKey", "partial_path"]

_ZARR = "zarr"
_STORE_SUFFIX = ".zarr"
_COMPONENTS = "components"
_STAGING = ".staging"
_CORPUS = "corpus"
_REPORT = "report.json"
PARTIAL = ".partial"
"""Suffix of anything being written, renamed into place when whole."""


class SessionKey(NamedTuple):
    """A stored session's name: its component (``source_dataset``), subject and session ids."""

    component: str
    subject: str
    session: str

    def __str__(self) -> str:
        return f"{self.component}/{self.subject}/{self.session}"


class SegmentKey(NamedTuple):
    """One row of the corpus: a session and one of its segments (``segment_0``, ...)."""

    session: SessionKey
    segment: str

    @property
    def columns(self) -> tuple[str, str, str, str]:
        """The row's ids in the published column order (``schema.ID_COLUMNS``).

        ``(subject_id, session_id, segment_id, source_dataset)``.
        """
        component, subject, session = self.session
        return subject, session, self.segment, component

    @classmethod
    def from_columns(
        cls, subject_id: str, session_id: str, segment_id: str, source_dataset: str
    ) -> SegmentKey:
        """The key of a row read with its id columns in ``schema.ID_COLUMNS`` order."""
        return cls(SessionKey(source_dataset, subject_id, session_id), segment_id)

    def __str__(self) -> str:
        return f"{self.session}/{self.segment}"


def partial_path(final: str | os.PathLike[str]) -> Path:
    """``.<name>.partial`` beside ``final``: where a folder or file is written before its rename."""
    final = Path(final)
    return final.with_name(f".{final.name}{PARTIAL}")


@dataclass(frozen=True)
class BuildLayout:
    """The folders and files of one build folder ``out_dir``, as paths (no I/O).

    Examples
    --------
    >>> layout = BuildLayout.of("out")
    >>> layout.session_group(SessionKey("kim", "sub-1", "ses-a")).as_posix()
    'out/zarr/kim.zarr/sub-1/ses-a'
    """

    out_dir: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", Path(self.out_dir))

    @classmethod
    def of(cls, where: str | os.PathLike[str] | BuildLayout) -> BuildLayout:
        """The layout of a build folder, given as a path or already as a layout."""
        return where if isinstance(where, BuildLayout) else cls(Path(where))

    def __fspath__(self) -> str:
        return os.fspath(self.out_dir)

    # the run report
    @property
    def report(self) -> Path:
        """``OUT/report.json``."""
        return self.out_dir / _REPORT

    # the zarr store
    @property
    def zarr_dir(self) -> Path:
        """``OUT/zarr``: one zarr store per component."""
        return self.out_dir / _ZARR

    STORE_GLOB = f"*{_STORE_SUFFIX}"
    """Pattern of the component stores in :attr:`zarr_dir`."""

    def store(self, component: str) -> Path:
        """``OUT/zarr/<component>.zarr``."""
        return self.zarr_dir / f"{component}{_STORE_SUFFIX}"

    @staticmethod
    def component_of(store: str | os.PathLike[str]) -> str:
        """The component a store path ``.../<component>.zarr`` holds."""
        name = Path(store).name
        return name[: -len(_STORE_SUFFIX)] if name.endswith(_STORE_SUFFIX) else name

    def session_group(self, key: SessionKey) -> Path:
        """``OUT/zarr/<component>.zarr/<subject>/<session>``: a complete session group."""
        return self.store(key.component) / key.subject / key.session

    @property
    def zarr_partial_dir(self) -> Path:
        """``OUT/zarr/.partial``: sessions being written."""
        return self.zarr_dir / PARTIAL

    def session_partial(self, key: SessionKey) -> Path:
        """``OUT/zarr/.partial/<component>/<subject>/<session>``: a session group being written."""
        return self.zarr_partial_dir / key.component / key.subject / key.session

    # parquet components
    @property
    def components_dir(self) -> Path:
        """``OUT/components``: one Hugging Face parquet folder per component."""
        return self.out_dir / _COMPONENTS

    def component_dir(self, component: str) -> Path:
        """``OUT/components/<component>``."""
        return self.components_dir / component

    @property
    def staging_dir(self) -> Path:
        """``OUT/components/.staging``: each session's parquet parts, before assembly."""
        return self.components_dir / _STAGING

    def component_staging(self, component: str) -> Path:
        """``OUT/components/.staging/<component>``."""
        return self.staging_dir / component

    def session_staging(self, key: SessionKey) -> Path:
        """``OUT/components/.staging/<component>/<subject>/<session>``: a session's parquet parts."""
        return self.component_staging(key.component) / key.subject / key.session

    def rows_dir(self, key: SessionKey, digest: str) -> Path:
        """``OUT/components/.staging/<component>/<subject>/.<session>.rows-<digest>``.

        The one-row files a session's block tasks encoded, named by the digest of
        the session's fingerprint (rows of another build are never taken for these).
        """
        return self.component_staging(key.component) / key.subject / f".{key.session}.rows-{digest}"

    def staged_partial(self, token: str) -> Path:
        """``OUT/components/.staged-<token>.partial``: a session's parts being written."""
        return self.components_dir / f".staged-{token}{PARTIAL}"

    # the merged corpus
    @property
    def corpus_dir(self) -> Path:
        """``OUT/corpus``: the shuffled merge of the components, with its test split."""
        return self.out_dir / _CORPUS
