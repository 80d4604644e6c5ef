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

import copy
import logging
import os
import re
import signal
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask.config
import yaml
from dask.utils import parse_timedelta

from neuralbench.errors import NeuralbenchError

if TYPE_CHECKING:
    from dask_jobqueue import JobQueueCluster
    from distributed import Client

__all__ = [
    "KINDS",
    "cancel_jobs",
    "connect",
    "job_ids",
    "job_script",
    "make_client",
    "release",
    "resolve",
    "worker_timeout",
]

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
    _check_sizes(kind, settings)
    return settings


_COUNTS = {"local": ("n_workers", "threads_per_worker"), "slurm": ("jobs", "cores", "processes")}
_COUNTS["pbs"] = _COUNTS["slurm"]
"""Keys that count something, per kind: an int of at least 1, or null where the kind allows it."""


def _check_sizes(kind: str, settings: Mapping[str, Any]) -> None:
    """Refuse a cluster that cannot exist (``jobs: 0``, ``cores: -1``) before anything starts.

    Such a cluster would start no worker, and the build would wait for one in vain.
    """
    for key in _COUNTS[kind]:
        value = settings.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"cluster {kind}: {key} must be a whole number >= 1, got {value!r}")
    processes, cores = settings.get("processes"), settings.get("cores")
    if kind != "local" and processes is not None and cores is not None and processes > cores:
        raise ValueError(f"cluster {kind}: processes ({processes}) must not exceed cores ({cores})")
    _check_interval(kind, settings.get("profile_interval"))
    timeout = settings.get("worker_timeout")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ValueError(f"cluster {kind}: worker_timeout must be a number of seconds > 0, got {timeout!r}")


def _check_interval(kind: str, interval: Any) -> None:
    """A profiler interval dask can parse and that is > 0 (null leaves dask's)."""
    try:
        if interval is not None and parse_timedelta(interval) <= 0:
            raise ValueError
    except (ValueError, TypeError, KeyError):
        raise ValueError(
            f"cluster {kind}: profile_interval must be a duration such as 100ms, got {interval!r}"
        ) from None


_OURS = ("jobs", "worker_timeout", "profile_interval")
"""Keys neuralbench acts on itself; every other key goes to the cluster's constructor."""

_PROFILE_ENV = "DASK_DISTRIBUTED__WORKER__PROFILE__INTERVAL"


def _passed(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings the cluster's constructor takes: not ours, not null."""
    return {k: v for k, v in settings.items() if k not in _OURS and v is not None}


def _profile_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``dask.config.set`` keys for ``profile-interval`` (none when null: dask's own)."""
    interval = settings.get("profile_interval")
    return {} if interval is None else {"distributed.worker.profile.interval": interval}


def _local_kwargs(settings: Mapping[str, Any]) -> dict[str, Any]:
    """LocalCluster keywords. A Nanny gets the profiler's interval in its own copy of the
    ``distributed`` config (it merges only top-level keys), so a restarted worker has it too."""
    kwargs = _passed(settings)
    if settings.get("processes", True) and (keys := _profile_config(settings)):
        with dask.config.set(keys):
            kwargs["config"] = {"distributed": copy.deepcopy(dask.config.get("distributed"))}
    return kwargs


def _batch_kwargs(settings: Mapping[str, Any]) -> dict[str, Any]:
    """dask-jobqueue keywords; a worker job reads the profiler's interval from its environment."""
    kwargs = _passed(settings)
    if (interval := settings.get("profile_interval")) is not None:
        prologue = list(kwargs.get("job_script_prologue") or [])
        kwargs["job_script_prologue"] = [*prologue, f"export {_PROFILE_ENV}={interval}"]
    return kwargs


def _import_jobqueue() -> Any:
    """``dask_jobqueue``, leaving the process's SIGINT handler as it was.

    dask-jobqueue 0.9.0 sets ``SIGINT -> sys.exit()`` on import (its ``runner`` module,
    dask/dask-jobqueue#696), which turned Ctrl-C into a silent exit 0.
    """
    in_main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGINT) if in_main else None
    try:
        import dask_jobqueue
    finally:
        if in_main and before is not None and signal.getsignal(signal.SIGINT) is not before:
            signal.signal(signal.SIGINT, before)
    return dask_jobqueue


def _jobqueue_cluster(kind: str, settings: dict[str, Any]) -> JobQueueCluster:
    """A dask-jobqueue cluster with no jobs yet: starts a scheduler, submits nothing."""
    # Imported here: importing dask_jobqueue copies its jobqueue.yaml into ~/.config/dask.
    jobqueue = _import_jobqueue()
    cls = {"slurm": jobqueue.SLURMCluster, "pbs": jobqueue.PBSCluster}[kind]
    cluster = cls(**_batch_kwargs(settings))
    cluster.neuralbench_settings = {"kind": kind, **settings}  # read by worker_timeout()
    return cluster


def worker_timeout(client: Client) -> float:
    """Seconds a build may go with no worker on ``client`` before it stops.

    The ``worker-timeout`` of the settings :func:`make_client` used, else of the dask
    config for the kind of ``client.cluster`` (local for a LocalCluster or a scheduler
    reached by address).
    """
    cluster = getattr(client, "cluster", None)
    settings = getattr(cluster, "neuralbench_settings", None)
    if settings is None:
        name = type(cluster).__name__.lower()
        kind = next((k for k in ("slurm", "pbs") if name.startswith(k)), "local")
        settings = resolve(kind)
    return float(settings["worker_timeout"])


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
    log_directory = settings.get("log_directory")
    if log_directory is None:
        with _jobqueue_cluster(kind, settings) as cluster:
            return cluster.job_script()
    # dask-jobqueue creates the log folder when it renders the script: render it under a
    # scratch folder and put the user's path back, so a look at the script writes nothing.
    with tempfile.TemporaryDirectory(prefix="nb-job-script-") as scratch:
        stand_in = os.path.join(scratch, "log-directory")
        with _jobqueue_cluster(kind, {**settings, "log_directory": stand_in}) as cluster:
            return cluster.job_script().replace(stand_in, str(log_directory))


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
        with dask.config.set(_profile_config(settings)):  # workers in threads read it as they start
            client = Client(**_local_kwargs(settings))  # the Client owns this LocalCluster and closes it
        client.cluster.neuralbench_settings = {"kind": kind, **settings}
        logger.info("local cluster of %d workers at %s", len(client.cluster.workers), client.dashboard_link)
        return client
    if settings.get("log_directory"):  # SLURM/PBS do not create the folder of a job's log
        Path(os.path.expandvars(settings["log_directory"])).mkdir(parents=True, exist_ok=True)
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
    Batch jobs are cancelled first, in one bounded ``scancel``/``qdel``, so that even a
    shutdown cut short (the head job's own end) leaves no worker job queued.
    """
    if client.cluster is not None:
        cancel_jobs(client)
        client.shutdown()
    else:
        client.close()


def job_ids(client: Client) -> list[str]:
    """The batch job ids of ``client``'s dask-jobqueue cluster (none for other clusters)."""
    workers = getattr(getattr(client, "cluster", None), "workers", None)
    if not workers or not hasattr(client.cluster, "job_cls"):
        return []
    return [str(job.job_id) for job in list(workers.values()) if getattr(job, "job_id", None)]


def cancel_jobs(client: Client, *, timeout: float = 30) -> list[str]:
    """Cancel every batch job of ``client``'s cluster now; the ids it cancelled.

    dask-jobqueue cancels each job from its event loop as its worker closes; this does
    them all at once and synchronously, for a head process about to end (a signal).
    """
    ids = job_ids(client)
    command = getattr(getattr(client.cluster, "job_cls", None), "cancel_command", None)
    if not ids or not command:
        return []
    try:
        subprocess.run([*command.split(), *ids], capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("could not cancel worker jobs %s: %s", " ".join(ids), exc)
        return []
    logger.info("cancelled worker jobs %s", " ".join(ids))
    return ids


# Packaged defaults under the user's config (dask-jobqueue's pattern, minus its ensure_file).
dask.config.update_defaults(_read_yaml(_DEFAULTS_FILE))
