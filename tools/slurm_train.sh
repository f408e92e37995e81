#!/usr/bin/env bash
# Training on a SLURM cluster (one task per GPU).
#
# Usage: tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [ARGS]
# Environment: GPUS (8, total tasks), GPUS_PER_NODE (8; 0 for CPU-only nodes,
#              then TASKS_PER_NODE, default GPUS, tasks share a node),
#              CPUS_PER_TASK (5), SRUN_ARGS (extra srun options),
#              PYTHON (.venv/bin/python if present, else python).
set -eo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]" >&2
    exit 2
fi
set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
TOOLS_DIR=$(cd "$(dirname "$0")" && pwd)
# the project's virtual environment (make install) unless PYTHON is set
if [ -z "$PYTHON" ] && [ -x "$TOOLS_DIR/../.venv/bin/python" ]; then
    PYTHON="$TOOLS_DIR/../.venv/bin/python"
fi
PYTHON=${PYTHON:-python}
if [ "$GPUS_PER_NODE" -gt 0 ]; then
    TASKS_PER_NODE=${TASKS_PER_NODE:-$GPUS_PER_NODE}
    GRES_ARG="--gres=gpu:$GPUS_PER_NODE"
else
    TASKS_PER_NODE=${TASKS_PER_NODE:-$GPUS}
    GRES_ARG=""
fi

# SRUN_ARGS and GRES_ARG are split into words on purpose
# shellcheck disable=SC2086
PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    $GRES_ARG \
    --ntasks="$GPUS" \
    --ntasks-per-node="$TASKS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$TOOLS_DIR/train.py" "$CONFIG" --work-dir="$WORK_DIR" \
    --launcher="slurm" "${@:5}"
