#!/usr/bin/env bash
# Build the corpus on PBS. This head job runs the dask scheduler and the pipeline's
# bookkeeping only (one core); it submits the worker jobs itself, sized by the profile
# (cluster/pbs.yaml), and cancels them when it ends, is deleted or hits its walltime.
#
#   qsub -v RAW=/scratch/$USER/raw,OUT=/scratch/$USER/corpus,JOBS=20 cluster/launch-pbs.sh
#
# qsub passes no arguments to a script, hence the variables. JOBS: worker jobs to submit
# (default: `jobs` in the profile); PROFILE: default cluster/pbs.yaml, relative to the
# folder qsub was run in.
#
# Edit for your site: the walltime line (the whole build, longer than a worker's walltime),
# the -q/-A lines if your site needs them, and SETUP below them.
#PBS -l walltime=24:00:00
# #PBS -q workq
# #PBS -A abc123
#PBS -N nb-build
#PBS -l select=1:ncpus=1:mem=4GB
#PBS -j oe
# SETUP: the shell line that puts `neuralbench` on PATH in a batch job, e.g.
#   "source $HOME/venvs/neuralbench/bin/activate"   or   "module load miniforge && conda activate nb"
# Empty: `neuralbench` is already on PATH (pass the environment with `qsub -V`).
SETUP=""
set -euo pipefail

usage="usage: qsub -v RAW=...,OUT=...[,JOBS=N][,PROFILE=FILE] cluster/launch-pbs.sh"
RAW=${RAW:?$usage}
OUT=${OUT:?$usage}
JOBS=${JOBS:-}
PROFILE=${PROFILE:-cluster/pbs.yaml}

cd "${PBS_O_WORKDIR:-.}"
if [ -n "$SETUP" ]; then
    eval "$SETUP"
fi
if ! command -v neuralbench >/dev/null; then
    echo "launch-pbs.sh: neuralbench is not on PATH in this job; set SETUP near the top of" \
         "this script to the line that activates its environment (now: '${SETUP}')" >&2
    exit 127
fi

# exec: the build itself receives the batch system's SIGTERM and cancels its workers
exec neuralbench build "$RAW" "$OUT" --cluster pbs --profile "$PROFILE" ${JOBS:+--jobs "$JOBS"}
