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

    ``subject="parent"`` is the folder holding the file, ``subject="prefix"`` the
    file name up to its first ``_`` (for archives that put every subject in one
    folder), ``session="stem"`` the name without the last extension. ``fixed``
    maps a file (its name, or its path below the root) to fixed ids.
    """

    subject: str = "parent"
    session: str = "stem"
    fixed: tuple[tuple[str, str, str], ...] = ()  # (file name or path, subject_id, session_id)

    def of(self, relpath: str) -> tuple[str, str]:
        """``(subject_id, session_id)`` of a session file given by its path."""
        p = PurePosixPath(relpath)
        for name, subject, session in self.fixed:
            if p.name == name or str(p) == name or str(p).endswith("/" + name):
                return subject, session
        if self.subject == "parent":
            subject = p.parent.name
        elif self.subject == "prefix":
            subject = p.stem.split("_", 1)[0]
        else:
            subject = self.subject
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
    >>> r.select(["sub-a/sub-a_ses-1_ecephys.nwb", "sub-a/sub-a_ses-1_behavior+ecephys.nwb"])
    ['sub-a/sub-a_ses-1_behavior+ecephys.nwb']
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
    license: str = ""  # SPDX id; "" where not known here: the card says "other" and links the source
    max_tokens: int | None = 10_000_000  # segment limit; None keeps sessions whole
    overrides: tuple[tuple[str, Mapping[str, Any]], ...] = ()  # (path pattern, params) per subset

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

    def params_for(self, relpath: str) -> dict[str, Any]:
        """The reader parameters of one session file: ``params`` updated by every
        override whose pattern matches its path (e.g. a subject's own bin width).
        """
        merged = dict(self.params)
        p = str(PurePosixPath(relpath))
        for pattern, extra in self.overrides:
            if fnmatch.fnmatchcase(p, pattern):
                merged.update(extra)
        return merged

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


def _units(
    name: str,
    source: Dandi,
    *,
    expect: Expect,
    cite: str,
    group: str = "units",
    include: tuple[str, ...] = ("*.nwb",),
    exclude: tuple[str, ...] = (),
) -> Recipe:
    """A units-table component: the shape most dandisets share (a constructor, no logic)."""
    return Recipe(
        name=name,
        source=source,
        reader="nwb-units",
        params={"group": group},
        include=include,
        exclude=exclude,
        expect=expect,
        fixes=("saturate-uint8",),
        cite=cite,
        license=_CC_BY,
    )


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
    # willett. Facts: Dryad doi:10.5061/dryad.x69p8czpq; the build used
    # diagnosticBlocks.tar.gz, sentences.tar.gz and tuningTasks.tar.gz, extracted.
    # Facts ran out: no checksums or sizes at hand. Layout: the three extracted folders.
    Recipe(
        name="willett",
        source=Archive("dryad", "10.5061/dryad.x69p8czpq"),
        reader="mat-dense",
        params={"variable": "tx1", "time_axis": 0, "native_bin_s": 0.02},
        include=("diagnosticBlocks/*.mat", "sentences/*.mat", "tuningTasks/*.mat"),
        expect=Expect(sessions=44, tokens=1_796_119_552, subjects=1),
        # tx1 is uint8 in the files: the published script did not cast it, and the merge
        # (which refuses differing dtypes) took it as uint8, so there is nothing to recast
        fixes=("saturate-uint8",),
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
    # --- NWB units tables (RECIPES.md 0.3): histogram from NWB time 0 -------------------
    _units(
        "neupane-entorhinal",
        Dandi("000897", "0.240605.1710"),
        group="processing/ecephys/units",
        include=("*_behavior+ecephys.nwb",),  # the *_ecephys.nwb twins are raw ephys (13-37 GB)
        expect=Expect(sessions=15, tokens=911_393_376, subjects=2),
        cite="Neupane, Fiete, Jazayeri (2024) Mental navigation, entorhinal cortex, DANDI:000897",
    ),
    _units(
        "kim",
        Dandi("001357", "draft", reason="the dandiset has no published version"),
        expect=Expect(
            sessions=159,
            tokens=804_510_741,
            subjects=2,
            note="no asset list at hand: only the dandiset summary (159 files) is checked",
        ),
        cite="Kim, Namima, Pasupathy et al. (2025) Shape and texture encoding in V4, DANDI:001357",
    ),
    _units(
        "even-chen",
        # 0.220124.2156 holds the 15 assets; the draft has none since 2022-06.
        Dandi("000121", "0.220124.2156"),
        # The three *+image.nwb assets are 40-55 GB raw-video files; the 12 sessions of
        # the published table are exactly the other files, so we skip them.
        exclude=("*+image.nwb",),
        expect=Expect(
            sessions=12,
            tokens=783_441_792,
            subjects=2,
            note="the published builder took every .nwb (15); its table lists 12 sessions, "
            "the files without +image",
        ),
        cite="Even-Chen, Sheffer, Vyas, Ryu, Shenoy (2019) Structure and variability of delay "
        "activity in premotor cortex, DANDI:000121",
    ),
    _units(
        "perich",
        # Our listing (2024-02) predates the first published version; the published build's
        # own dandiset.yaml names 0.250122.1735 with the same 111 files.
        Dandi("000688", "0.250122.1735"),
        expect=Expect(sessions=111, tokens=688_889_368, subjects=4),
        cite="Perich, Miller, Azabou, Dyer (2024) Long-term recordings of motor and premotor "
        "cortex, DANDI:000688",
    ),
    _units(
        "m1-a",
        # The listing (2024-10-24) predates 0.241029.1405, the version the published build used.
        Dandi("000941", "0.241029.1405"),
        expect=Expect(
            sessions=11,
            tokens=45_410_816,
            subjects=1,
            note="subject_id is the FALCON split folder: 3 ids for 1 monkey",
        ),
        cite="Rouse, Schieber (2024) FALCON Benchmark M1-A, DANDI:000941",
    ),
    _units(
        "m1-b",
        Dandi("001209", "draft", reason="the dandiset has no published version"),
        expect=Expect(
            sessions=12,
            tokens=43_809_344,
            subjects=1,
            note="subject_id is the FALCON split folder: 3 ids for 1 monkey",
        ),
        cite="Rouse, Schieber (2024) FALCON Benchmark M1-B, DANDI:001209",
    ),
    _units(
        "h1",
        Dandi("000954", "draft", reason="the dandiset has no published version"),
        expect=Expect(
            sessions=40,
            tokens=33_686_576,
            subjects=1,
            note="subject_id is the FALCON split folder: 3 ids for 1 participant",
        ),
        cite="Ye, Collinger, Gaunt (2024) FALCON Benchmark H1, DANDI:000954",
    ),
    _units(
        "moore",
        Dandi("001062", "draft", reason="the dandiset has no published version"),
        expect=Expect(sessions=1, tokens=30_643_839, subjects=1),
        cite="Moore, Walker, MacLean, Hatsopoulos (2024) Marmoset prey capture, DANDI:001062",
    ),
    _units(
        "dmfc-rsg",
        Dandi("000130", "0.241017.1448"),
        expect=Expect(sessions=2, tokens=14_003_818, subjects=1),
        cite="Sohn, Jazayeri (2024) DMFC_RSG (Neural Latents Benchmark), DANDI:000130",
    ),
    _units(
        "m2",
        Dandi("000953", "draft", reason="the dandiset has no published version"),
        expect=Expect(
            sessions=20,
            tokens=12_708_384,
            subjects=1,
            note="the published build's dandiset.yaml said 2 files (stale); the listing has 20",
        ),
        cite="Nason-Tomaszewski, Mender, Chestek (2024) FALCON Benchmark M2, DANDI:000953",
    ),
    _units(
        "area2-bump",
        Dandi("000127", "0.220113.0359"),
        expect=Expect(sessions=2, tokens=7_394_070, subjects=1),
        cite="Chowdhury, Miller (2022) Area2_Bump (Neural Latents Benchmark), DANDI:000127",
    ),
    # --- NWB dense series ---------------------------------------------------------------
    Recipe(
        name="athalye",
        source=Dandi("000404", "0.230605.2024"),
        reader="nwb-timeseries",
        # monkey J: 200 Hz counts summed x4 to 20 ms; monkey G: 60 Hz kept as published
        params={
            "group": "processing/behavior/spike_counts",
            "time_axis": 0,
            "native_bin_s": 0.005,
            "bin_size_s": 0.02,
        },
        overrides=(("*sub-monk-g/*", {"native_bin_s": 1 / 60, "bin_size_s": 1 / 60}),),
        expect=Expect(
            sessions=13,
            tokens=101_984_317,
            subjects=2,
            note="monkey G stays at 60 Hz (bin_size_s=1/60), as published",
        ),
        # published: each 5 ms count cast to uint8 (wrapping) before J's 4-bin sum, which
        # numpy promoted to uint64 and nothing cast back
        fixes=("saturate-uint8", "cast-uint8", "athalye-sum-before-saturate"),
        cite="Athalye, Khanna, Gowda, Orsborn, Costa, Carmena (2023) Monkey 2D cursor BMI, DANDI:000404",
        license=_CC_BY,
    ),
    Recipe(
        name="temmar",
        source=Dandi(
            "001201",
            "draft",
            reason="no published version; the draft was re-published in 2025 (311 files, "
            "series moved to analysis/), so a rebuild meets the new layout",
        ),
        reader="nwb-timeseries",
        params={
            "group": "processing/ecephys/ThresholdCrossings",
            "alt_groups": ("analysis/ThresholdCrossings",),
            "time_axis": 0,
            "native_bin_s": 0.02,
        },
        expect=Expect(
            sessions=12,
            tokens=27_388_320,
            subjects=1,
            note="the 2025 listing has 12 files; today's draft has 311 (v2 corpus: 330 sessions)",
        ),
        fixes=("saturate-uint8",),
        cite="Temmar et al. (2024) LINK: Long-term intracortical neural activity and kinematics, "
        "DANDI:001201",
        license=_CC_BY,
    ),
    # --- archives ------------------------------------------------------------------------
    # papale. Facts: GIN repo paolo_papale/TVSD keeps one folder per monkey holding
    # THINGS_MUA_trials.mat (un-normalised MUA, ALLMUA (time, trials, electrodes) as h5py
    # sees it, 300 samples at 1 kHz); the published build used the author's OneDrive
    # copies THINGS_MUA_trials_F.mat / _N.mat. Facts ran out: no checksums, sizes or GIN
    # commit. Layout chosen: GIN's own (monkeyF/, monkeyN/); the OneDrive names are
    # accepted too.
    Recipe(
        name="papale",
        source=Archive(
            "gin",
            "https://gin.g-node.org/paolo_papale/TVSD",
            files=(
                ArchiveFile("monkeyF/THINGS_MUA_trials.mat"),
                ArchiveFile("monkeyN/THINGS_MUA_trials.mat"),
            ),
        ),
        reader="mat-mua-threshold",
        params={"variable": "ALLMUA", "threshold_sd": 3.5, "samples_per_bin": 20},
        include=("*monkey[FN]/THINGS_MUA_trials.mat", "*THINGS_MUA_trials_[FN].mat"),
        ids=Ids(
            fixed=(
                ("monkeyF/THINGS_MUA_trials.mat", "monkey_F", "F_0"),
                ("monkeyN/THINGS_MUA_trials.mat", "monkey_N", "N_0"),
                ("THINGS_MUA_trials_F.mat", "monkey_F", "F_0"),
                ("THINGS_MUA_trials_N.mat", "monkey_N", "N_0"),
            )
        ),
        expect=Expect(
            sessions=2,
            tokens=775_618_560,
            subjects=2,
            note="same tokens; columns are trial-major here (published: bin-major)",
        ),
        fixes=("saturate-uint8", "papale-trials-end-to-end"),
        cite="Papale, Wang, Self, Roelfsema (2025) An extensive dataset of spiking activity to "
        "reveal the syntax of the ventral stream, Neuron; G-Node GIN TVSD",
    ),
    # wojcik. Facts: Dryad doi:10.5061/dryad.c2fqz61kb, 50 .npy arrays (trials, units,
    # 1 ms rates), 2 subjects, subject = the folder holding the file. Facts ran out: no
    # file names, folder names or checksums. Layout chosen: <subject>/<session>.npy as the
    # published builder walked it (Dryad serves the files one by one).
    Recipe(
        name="wojcik",
        source=Archive("dryad", "10.5061/dryad.c2fqz61kb"),
        reader="npy-rates",
        params={"samples_per_bin": 20, "count_scale": 0.02},
        include=("*.npy",),
        expect=Expect(sessions=50, tokens=422_724_515, subjects=2),
        fixes=("saturate-uint8", "rates-negative-to-zero"),
        cite="Wojcik et al. (2023) Dryad doi:10.5061/dryad.c2fqz61kb",
        license="CC0-1.0",  # every Dryad dataset is CC0
    ),
    # makin. Facts: Zenodo record 3854034 (v2), 47 MAT v7.3 sessions (37 indy_*, 10 loco_*),
    # `spikes` = channels x units cell of spike-time column vectors; the published build
    # fetched every file of the record into one folder. Facts ran out: no checksums or
    # sizes at hand. Layout chosen: Zenodo's flat folder; subject = the file-name prefix
    # (indy / loco), since a flat folder gives no subject folder.
    Recipe(
        name="makin",
        source=Archive("zenodo", "10.5281/zenodo.3854034"),
        reader="mat-channel-trains",
        params={"variable": "spikes", "time_origin": "first_spike"},
        include=("*.mat",),
        ids=Ids(subject="prefix"),
        expect=Expect(
            sessions=47,
            tokens=375_447_744,
            subjects=2,
            note="published subject ids were the author's folder names; ours are indy/loco",
        ),
        fixes=("saturate-uint8",),
        cite="O'Doherty, Cardoso, Makin, Sabes (2020) Nonhuman primate reaching with "
        "multichannel sensorimotor cortex electrophysiology, Zenodo 3854034",
    ),
    # lanzarini. Facts: OSF project 82jfr, MAT v5 files with Spk_NNNa_sh spike-time
    # variables on 128 channels, 10 sessions, 2 subjects. Facts ran out: no file list,
    # folder names or checksums. Layout chosen: the OSF archive download's tree,
    # <subject folder>/<session>.mat, as the published builder walked it.
    Recipe(
        name="lanzarini",
        source=Archive("osf", "https://osf.io/82jfr"),
        reader="mat-spike-vars",
        params={"name_format": "Spk_{:03d}a_sh", "n_channels": 128},
        include=("*.mat",),
        expect=Expect(sessions=10, tokens=259_179_392, subjects=2),
        fixes=("saturate-uint8", "lanzarini-drop-negative-times", "lanzarini-column-vectors-whole"),
        cite="Lanzarini et al., OSF 82jfr",
        license="",  # the OSF project states none at hand: the card says "other", see the source
    ),
    # rajalingham. Facts: Zenodo record 13952210; the build uses
    # {mahler,perle}_hand_dmfc_dataset_50ms.mat, struct neural_responses_reliable whose
    # first field is (neurons, conditions, 50 ms bins). Facts ran out: no checksums or
    # sizes. Layout chosen: Zenodo's flat folder (the published code's data/mahler/,
    # data/perle/ folders are matched too).
    Recipe(
        name="rajalingham",
        source=Archive(
            "zenodo",
            "10.5281/zenodo.13952210",
            files=(
                ArchiveFile("mahler_hand_dmfc_dataset_50ms.mat"),
                ArchiveFile("perle_hand_dmfc_dataset_50ms.mat"),
            ),
        ),
        reader="mat-conditions",
        params={"variable": "neural_responses_reliable", "scale": 50.0, "bin_size_s": 0.05},
        include=("*mahler_hand_dmfc_dataset_50ms.mat", "*perle_hand_dmfc_dataset_50ms.mat"),
        ids=Ids(
            fixed=(
                ("mahler_hand_dmfc_dataset_50ms.mat", "Mahler", "M_0"),
                ("perle_hand_dmfc_dataset_50ms.mat", "Perle", "P_0"),
            )
        ),
        expect=Expect(
            sessions=2,
            tokens=14_923_100,
            subjects=2,
            note="50 ms bins and no segmentation, as published",
        ),
        fixes=("saturate-uint8", "rates-negative-to-zero"),
        cite="Rajalingham, Sohn, Jazayeri (2024) Zenodo 13952210",
        max_tokens=None,
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
