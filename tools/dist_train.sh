#!/usr/bin/env bash
# Distributed training on one or more nodes with torchrun.
#
# Usage: tools/dist_train.sh CONFIG NPROC [tools/train.py options]
#   NPROC: processes on this node (one per GPU; on a machine without GPU,
#          CPU processes that train with the gloo backend).
# Environment: NNODES (1), NODE_RANK (0), PORT (29500),
#              MASTER_ADDR (127.0.0.1), PYTHON (.venv/bin/python if present,
#              else python).
set -eo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG NPROC [train.py options]" >&2
    exit 2
fi

CONFIG=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
TOOLS_DIR=$(cd "$(dirname "$0")" && pwd)
# the project's virtual environment (make install) unless PYTHON is set
if [ -z "$PYTHON" ] && [ -x "$TOOLS_DIR/../.venv/bin/python" ]; then
    PYTHON="$TOOLS_DIR/../.venv/bin/python"
fi
PYTHON=${PYTHON:-python}

PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$NPROC" \
    "$TOOLS_DIR/train.py" "$CONFIG" --launcher pytorch "${@:3}"
