"""Dask clients for a laptop, a SLURM or PBS cluster, or a scheduler already running.

The pipeline only needs a :class:`distributed.Client`; where its workers live is a
run-time choice (house rule 6), made here and nowhere else. Settings resolve as dask-jobqueue
resolves its own: an explicit keyword argument, then the ``profile`` YAML file, then the
user's dask config (``neuralbench.cluster.<kind>.<key>``), then the packaged
``neuralbench/cluster.yaml``. Importing this module registers those packaged defaults with
:func:`dask.config.update_defaults` (below any user setting, only under ``neuralbench``)
and does nothing else: no Client, no import of dask-jobqueue, no file written.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask.config
import yaml

from neuralbench.errors import NeuralbenchError

if TYPE_CHECKING:
    from dask_jobqueue import JobQueueCluster
    from distributed import Client

__all__ = ["KINDS", "connect", "job_script", "make_client", "release", "resolve"]

logger = logging.getLogger(__name__)

KINDS = ("local", "slurm", "pbs")
"""Cluster kinds :func:`make_client` starts itself."""

_DEFAULTS_FILE = Path(__file__).with_name("cluster.yaml")
_ADDRESS = re.compile(r"^([a-z0-9+]+://)?[\w.\-\[\]:]+:\d+$", re.IGNORECASE)


def _read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML mapping, naming the file when it is not one."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise NeuralbenchError(path, f"cannot read cluster profile ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise NeuralbenchError(path, f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise NeuralbenchError(path, "a cluster profile must be a YAML mapping")
    return data


def _canonical(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Keys as Python keywords: YAML and dask config write ``local-directory``."""
    return {str(k).replace("-", "_"): v for k, v in mapping.items()}


def _packaged(kind: str) -> dict[str, Any]:
    """The packaged defaults of one kind, which also fix the keys it accepts."""
    return _canonical(_read_yaml(_DEFAULTS_FILE)["neuralbench"]["cluster"][kind])


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(
            f"unknown cluster kind {kind!r}: expected one of {', '.join(KINDS)} "
            "or a scheduler address such as tcp://host:8786"
        )
    return kind


def _unknown(given: Mapping[str, Any], valid: Mapping[str, Any]) -> str:
    """Empty when every key is known, else a sentence that lists the valid ones."""
    extra = sorted(set(given) - set(valid))
    if not extra:
        return ""
    return f"unknown key(s) {', '.join(extra)}; valid keys: {', '.join(sorted(valid))}"


def _profile_section(path: Path, kind: str) -> dict[str, Any]:
    """The ``neuralbench.cluster.<kind>`` mapping of a profile file (the defaults' layout)."""
    section: Any = _read_yaml(path)
    for key in ("neuralbench", "cluster", kind):
        if not isinstance(section, dict) or key not in section:
            raise NeuralbenchError(path, f"has no neuralbench.cluster.{kind} section")
        section = section[key]
    if not isinstance(section, dict):
        raise NeuralbenchError(path, f"neuralbench.cluster.{kind} must be a mapping")
    return _canonical(section)


def resolve(kind: str, profile: str | os.PathLike[str] | None = None, **overrides: Any) -> dict[str, Any]:
    """Settings for one cluster kind after every layer of configuration is applied.

    Parameters
    ----------
    kind
        One of :data:`KINDS`.
    profile
        A YAML file laid out like ``neuralbench/cluster.yaml`` (e.g. ``cluster/slurm.yaml``);
        its ``neuralbench.cluster.<kind>`` keys beat the dask config.
    **overrides
        Keys of that kind, ``local_directory`` or ``local-directory``; ``None`` means
        "not given" so a CLI can pass its unset flags straight through.

    Returns
    -------
    dict
        Every key of the kind (underscored), ``None`` where nothing sets it, except that a
        batch kind's unset ``processes`` becomes ``cores``: one single-threaded worker per
        core, since h5py lets one thread per process work at a time.

    Raises
    ------
    ValueError
        Unknown kind, or an unknown key in the dask config.
    TypeError
        An unknown keyword.
    NeuralbenchError
        The profile is unreadable, lacks the section, or has an unknown key.
    """
    settings = _packaged(_check_kind(kind))
    user = _canonical(dask.config.get(f"neuralbench.cluster.{kind}", default={}) or {})
    if problem := _unknown(user, settings):
        raise ValueError(f"dask config neuralbench.cluster.{kind}: {problem}")
    settings.update(user)
    if profile is not None:
        path = Path(profile)
        section = _profile_section(path, kind)
        if problem := _unknown(section, settings):
            raise NeuralbenchError(path, problem)
        settings.update(section)
    given = {k: v for k, v in _canonical(overrides).items() if v is not None}
    if problem := _unknown(given, settings):
        raise TypeError(f"make_client({kind!r}): {problem}")
    settings.update(given)
    if settings.get("processes", 0) is None and settings.get("cores") is not None:
        settings["processes"] = settings["cores"]  # one single-threaded worker per core
    return settings


def _jobqueue_cluster(kind: str, settings: dict[str, Any]) -> JobQueueCluster:
    """A dask-jobqueue cluster with no jobs yet: starts a scheduler, submits nothing."""
    # Imported here: importing dask_jobqueue copies its jobqueue.yaml into ~/.config/dask.
    from dask_jobqueue import PBSCluster, SLURMCluster

    cls = {"slurm": SLURMCluster, "pbs": PBSCluster}[kind]
    kwargs = {k: v for k, v in settings.items() if k != "jobs" and v is not None}
    return cls(**kwargs)


def job_script(kind: str, profile: str | os.PathLike[str] | None = None, **overrides: Any) -> str:
    """The batch script one worker job would run, rendered without submitting anything.

    Use it to check a profile before spending queue time: ``sbatch``/``qsub`` need not exist.

    Parameters
    ----------
    kind
        ``"slurm"`` or ``"pbs"``.
    profile, **overrides
        As for :func:`resolve`.

    Returns
    -------
    str
        The script, ``#SBATCH``/``#PBS`` header and worker command line.

    Examples
    --------
    >>> "#SBATCH -t 01:00:00" in job_script("slurm", walltime="01:00:00")
    True
    """
    if kind not in ("slurm", "pbs"):
        raise ValueError(f"job_script: {kind!r} has no batch script; expected slurm or pbs")
    settings = resolve(kind, profile, **overrides)
    with _jobqueue_cluster(kind, settings) as cluster:
        return cluster.job_script()


def connect(address: str, *, timeout: float = 30) -> Client:
    """A Client on a scheduler someone else started (``dask scheduler``, a Gateway, ...).

    Parameters
    ----------
    address
        ``tcp://host:8786`` (``host:8786`` implies tcp) or the path of the JSON file that
        ``dask scheduler --scheduler-file`` wrote, handy on a shared file system.
    timeout
        Seconds to wait for the scheduler before giving up.

    Returns
    -------
    distributed.Client
        Closing it leaves the scheduler and its workers running.
    """
    from distributed import Client

    if not _ADDRESS.match(address) and Path(address).is_file():
        logger.info("connecting to the scheduler in %s", address)
        return Client(scheduler_file=address, timeout=timeout)
    logger.info("connecting to scheduler %s", address)
    return Client(address, timeout=timeout)


def make_client(kind: str, profile: str | os.PathLike[str] | None = None, **overrides: Any) -> Client:
    """A Client on a new local or batch-queue cluster, or on a running scheduler.

    Parameters
    ----------
    kind
        ``"local"``: a LocalCluster of single-threaded worker processes sized to this
        machine. ``"slurm"`` / ``"pbs"``: a dask-jobqueue cluster whose scheduler runs in
        this process and whose workers arrive as ``jobs`` batch jobs. Anything else that
        looks like a scheduler address or names a scheduler file goes to :func:`connect`.
    profile
        A YAML file that beats the dask config (see :func:`resolve`).
    **overrides
        Keys of the kind, e.g. ``n_workers=2``, ``jobs=20``, ``walltime="08:00:00"``;
        for an address only ``timeout``.

    Returns
    -------
    distributed.Client
        Release it with :func:`release`, which also stops what this call started.
        Batch jobs are submitted but may still be queued: work starts as they arrive.

    Examples
    --------
    >>> client = make_client("local", n_workers=2, dashboard_address=":0")
    >>> client.submit(sum, [1, 2, 3]).result()
    6
    >>> release(client)
    """
    if kind not in KINDS and (_ADDRESS.match(kind) or Path(kind).suffix == ".json"):
        if profile is not None:
            raise TypeError(f"make_client({kind!r}): a running scheduler takes no profile")
        return connect(kind, **overrides)
    settings = resolve(kind, profile, **overrides)
    from distributed import Client

    if kind == "local":
        kwargs = {k: v for k, v in settings.items() if v is not None}
        client = Client(**kwargs)  # the Client owns this LocalCluster and closes it
        logger.info("local cluster of %d workers at %s", len(client.cluster.workers), client.dashboard_link)
        return client
    cluster = _jobqueue_cluster(kind, settings)
    try:
        cluster.scale(jobs=settings["jobs"])
        client = Client(cluster)
    except BaseException:
        cluster.close()
        raise
    logger.info("%s: asked for %d jobs; dashboard %s", kind, settings["jobs"], cluster.dashboard_link)
    return client


def release(client: Client) -> None:
    """Close a Client from :func:`make_client` and stop the cluster it started, if any.

    ``client.close()`` alone leaves a dask-jobqueue cluster's jobs running until the
    interpreter exits; a scheduler reached through :func:`connect` is left running here.
    """
    if client.cluster is not None:
        client.shutdown()
    else:
        client.close()


# Packaged defaults under the user's config (dask-jobqueue's pattern, minus its ensure_file).
dask.config.update_defaults(_read_yaml(_DEFAULTS_FILE))
