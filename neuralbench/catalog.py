"""The recipes: one declarative entry per component of the corpus.

A recipe says where a component comes from, which files are sessions, how each is
read and named, and what the published corpus holds for it. It has no code, no
I/O and no machine paths: those come at run time (see :mod:`neuralbench.pipeline`).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

__all__ = [
    "MERGE_ORDER",
    "RECIPES",
    "Archive",
    "ArchiveFile",
    "Dandi",
    "Expect",
    "Ids",
    "Recipe",
    "get_recipe",
]


@dataclass(frozen=True)
class Dandi:
    """A dandiset at a pinned version; ``dandi download`` leaves ``<id>/sub-*/...``."""

    dandiset: str
    version: str
    reason: str = ""  # why the version is not a published one (``draft``)

    @property
    def url(self) -> str:
        return f"https://dandiarchive.org/dandiset/{self.dandiset}/{self.version}"


@dataclass(frozen=True)
class ArchiveFile:
    """One file of an archive record, with the digest its archive publishes."""

    name: str
    url: str = ""
    sha256: str = ""
    md5: str = ""
    size: int | None = None
    unpack_to: str = ""  # folder (relative to the component root) for zip/tar contents


@dataclass(frozen=True)
class Archive:
    """A record on Dryad, Zenodo, OSF or G-Node GIN."""

    kind: str  # dryad | zenodo | osf | gin
    record: str  # DOI or record id
    files: tuple[ArchiveFile, ...] = ()

    @property
    def url(self) -> str:
        return self.record if "://" in self.record else f"https://doi.org/{self.record}"


@dataclass(frozen=True)
class Ids:
    """How ``subject_id`` and ``session_id`` are named (RECIPES.md section 0.2).

    ``subject="parent"`` is the folder holding the file, ``session="stem"`` its name
    without the last extension; ``fixed`` maps a file name to fixed ids.
    """

    subject: str = "parent"
    session: str = "stem"
    fixed: tuple[tuple[str, str, str], ...] = ()  # (file name, subject_id, session_id)

    def of(self, relpath: str) -> tuple[str, str]:
        """``(subject_id, session_id)`` of a session file given by its path."""
        p = PurePosixPath(relpath)
        for name, subject, session in self.fixed:
            if p.name == name:
                return subject, session
        subject = p.parent.name if self.subject == "parent" else self.subject
        session = p.stem if self.session == "stem" else self.session
        return subject, session


@dataclass(frozen=True)
class Expect:
    """What the published corpus holds for a component (its table)."""

    sessions: int | None = None
    tokens: int | None = None
    subjects: int | None = None
    note: str = ""  # why today's archive cannot give these figures, where it cannot


@dataclass(frozen=True)
class Recipe:
    """One component: source, selection, reader and naming, all as data.

    Examples
    --------
    >>> r = RECIPES["neupane-ppc"]
    >>> r.select(["001275/sub-a/sub-a_ses-1_ecephys.nwb", "001275/sub-a/sub-a_ses-1_behavior+ecephys.nwb"])
    ['001275/sub-a/sub-a_ses-1_behavior+ecephys.nwb']
    """

    name: str  # = source_dataset
    source: Dandi | Archive
    reader: str
    params: Mapping[str, Any] = field(default_factory=dict)
    include: tuple[str, ...] = ("*.nwb",)  # fnmatch patterns on the path below the root
    exclude: tuple[str, ...] = ()
    ids: Ids = Ids()
    expect: Expect = Expect()
    fixes: tuple[str, ...] = ()  # named differences from the published corpus
    cite: str = ""
    license: str = ""
    max_tokens: int | None = 10_000_000  # segment limit; None keeps sessions whole

    def select(self, paths: Iterable[str]) -> list[str]:
        """The relative paths (``/``-separated) that are sessions, in build order.

        Build order is sorted path order, as the published builders walk the tree.
        """
        picked = []
        for path in paths:
            p = str(PurePosixPath(path))
            if any(fnmatch.fnmatchcase(p, pat) for pat in self.include) and not any(
                fnmatch.fnmatchcase(p, pat) for pat in self.exclude
            ):
                picked.append(p)
        return sorted(picked)

    def token(self) -> str:
        """A stable sha256 of every field: a changed recipe rebuilds its sessions."""
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def prune(self, n: int) -> Recipe:
        """A copy whose ``select`` keeps only the first ``n`` sessions (smoke runs)."""
        return _Pruned(**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, keep=n)


@dataclass(frozen=True)
class _Pruned(Recipe):
    keep: int = 0

    def select(self, paths: Iterable[str]) -> list[str]:
        return super().select(paths)[: self.keep]


_CC_BY = "CC-BY-4.0"

_RECIPES = (
    Recipe(
        name="xiao",
        source=Dandi("000628", "draft", reason="no published version holds the rasters"),
        reader="nwb-timeseries",
        params={"group": "processing/ecephys/rasters", "time_axis": 0, "native_bin_s": 0.001},
        exclude=("*_image.nwb", "*_behavior.nwb"),
        expect=Expect(sessions=679, tokens=17_695_820_059, subjects=13),
        fixes=("saturate-uint8",),
        cite="Xiao, Sharma, Kreiman, Livingstone (2023), DANDI:000628",
        license=_CC_BY,
    ),
    Recipe(
        name="neupane-ppc",
        source=Dandi("001275", "draft", reason="the dandiset has no published version"),
        reader="nwb-units",
        params={"group": "processing/ecephys/units"},
        include=("*_behavior+ecephys.nwb",),
        expect=Expect(sessions=10, tokens=7_899_849_087, subjects=2),
        fixes=("saturate-uint8",),
        cite="Neupane, Fiete, Jazayeri (2024), DANDI:001275",
        license=_CC_BY,
    ),
    Recipe(
        name="willett",
        source=Archive("dryad", "10.5061/dryad.x69p8czpq"),
        reader="mat-dense",
        params={"variable": "tx1", "time_axis": 0, "native_bin_s": 0.02},
        include=("diagnosticBlocks/*.mat", "sentences/*.mat", "tuningTasks/*.mat"),
        expect=Expect(sessions=44, tokens=1_796_119_552, subjects=1),
        fixes=("saturate-uint8", "cast-uint8"),
        cite="Willett et al. (2023) A high-performance speech neuroprosthesis, Dryad",
        license="CC0-1.0",
    ),
    Recipe(
        name="churchland",
        source=Dandi("000070", "draft", reason="the dandiset has no published version"),
        reader="nwb-units",
        params={"group": "units"},
        expect=Expect(
            sessions=10,
            tokens=1_278_669_504,
            subjects=2,
            note="the archive holds 9 files; the published table says 10 sessions",
        ),
        fixes=("saturate-uint8",),
        cite="Churchland et al. (2012) Neural population dynamics during reaching, DANDI:000070",
        license=_CC_BY,
    ),
    Recipe(
        name="h2",
        source=Dandi("000950", "0.241029.1403"),
        reader="nwb-timeseries",
        params={"group": "acquisition/binned_spikes", "time_axis": 0, "native_bin_s": 0.02},
        expect=Expect(sessions=47, tokens=297_332_736, subjects=1),
        fixes=("saturate-uint8",),
        cite="Fan et al. (2024) FALCON Benchmark H2, DANDI:000950",
        license=_CC_BY,
    ),
)

RECIPES: dict[str, Recipe] = {r.name: r for r in _RECIPES}
"""Every component, by name (= ``source_dataset``)."""

MERGE_ORDER: tuple[str, ...] = (
    "xiao", "neupane-ppc", "willett", "churchland", "neupane-entorhinal", "kim", "even-chen",
    "papale", "perich", "wojcik", "makin", "h2", "lanzarini", "athalye", "m1-a", "m1-b", "h1",
    "moore", "temmar", "rajalingham", "dmfc-rsg", "m2", "area2-bump",
)  # fmt: skip
"""The order in which the published merge concatenates components (RECIPES.md 25)."""


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; the error lists the known names."""
    try:
        return RECIPES[name]
    except KeyError:
        from neuralbench.errors import RecipeError

        raise RecipeError(None, f"unknown component {name!r}; known: {', '.join(RECIPES)}") from None
