#!/usr/bin/env bash
# Build the corpus on PBS: this small job runs the dask scheduler and the pipeline;
# it submits the worker jobs itself (cluster/pbs.yaml says how big each one is).
#
#   qsub -v RAW=/scratch/$USER/raw,OUT=/scratch/$USER/corpus,JOBS=20 cluster/launch-pbs.sh
#
# qsub passes no arguments to a script, hence the variables. JOBS: worker jobs to submit
# (default: `jobs` in the profile); PROFILE: default cluster/pbs.yaml, relative to the
# folder qsub was run in.
#PBS -N nb-build
#PBS -l select=1:ncpus=2:mem=8GB
#PBS -l walltime=24:00:00
#PBS -j oe
# #PBS -q workq
# #PBS -A abc123
set -euo pipefail

usage="usage: qsub -v RAW=...,OUT=...[,JOBS=N][,PROFILE=FILE] cluster/launch-pbs.sh"
RAW=${RAW:?$usage}
OUT=${OUT:?$usage}
JOBS=${JOBS:-}
PROFILE=${PROFILE:-cluster/pbs.yaml}

cd "${PBS_O_WORKDIR:-.}"
# Activate the environment neuralbench is installed in; workers reuse its python.
# source ~/venvs/neuralbench/bin/activate

exec neuralbench build "$RAW" "$OUT" --cluster pbs --profile "$PROFILE" ${JOBS:+--jobs "$JOBS"}
