"""Distributed set-up that also works on machines without a GPU.

MMEngine 0.10.7 assumes an accelerator in two places:

1. ``init_dist`` (called by ``Runner.setup_env``) always calls
   ``torch.cuda.set_device(local_rank)`` before creating the process group;
2. ``Runner.wrap_model`` gives the DDP wrapper ``device_ids=[LOCAL_RANK]``,
   which DDP rejects for a module on the CPU.

:func:`setup_distributed` is called by ``tools/train.py`` and
``tools/test.py`` before the Runner is built. With an accelerator it does
nothing (MMEngine then uses ``env_cfg.dist_cfg``, e.g. ``nccl``, and
``torch.cuda.set_device``). Without one it

- switches an accelerator-only backend (``nccl``, ``hccl``, ``cncl``,
  ``mccl``) in ``env_cfg.dist_cfg`` to ``gloo``,
- creates the process group itself (``Runner.setup_env`` skips ``init_dist``
  when a group already exists), for the ``pytorch``, ``slurm`` and ``mpi``
  launchers, and
- sets ``model_wrapper_cfg`` so that the DDP wrapper gets
  ``device_ids=None``; this covers ``MMDistributedDataParallel`` and
  ``MMSeparateDistributedDataParallel`` (which passes ``device_ids`` on to
  the ``MMDistributedDataParallel`` it builds around every trainable child).
"""
import datetime
import os
import subprocess
from typing import Optional, Tuple

import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.logging import print_log
from torch.nn.parallel import DistributedDataParallel

from mpt_plugin.registry import MODEL_WRAPPERS

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
# backends that need an accelerator; replaced by gloo on a CPU-only machine
ACCELERATOR_BACKENDS = ('nccl', 'hccl', 'cncl', 'mccl')
DEFAULT_MASTER_PORT = '29500'


def accelerator_available() -> bool:
    """Whether MMEngine would run on an accelerator (CUDA/NPU/MLU/MUSA).

    Returns:
        bool: True if any accelerator is visible to this process.
    """
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def _env_int(name: str, launcher: str) -> int:
    """Read an integer environment variable set by a launcher."""
    if name not in os.environ:
        raise KeyError(
            f'--launcher {launcher} needs the environment variable {name}, '
            'which is not set; start the script with its launcher (e.g. '
            'tools/dist_train.sh / torchrun for "pytorch", srun for '
            '"slurm", mpirun for "mpi")')
    value = os.environ[name]
    try:
        return int(value)
    except ValueError:
        raise ValueError(f'environment variable {name}={value!r} is not an '
                         'integer') from None


def _slurm_master_addr(node_list: str) -> str:
    """First host name of a SLURM node list (``scontrol show hostname``)."""
    try:
        out = subprocess.run(['scontrol', 'show', 'hostname', node_list],
                             check=True,
                             capture_output=True,
                             text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError) as err:
        raise RuntimeError(
            f'cannot expand SLURM_NODELIST={node_list!r} with scontrol '
            f'({err}); set MASTER_ADDR explicitly') from err
    if not out:
        raise RuntimeError(f'scontrol returned no host for SLURM_NODELIST='
                           f'{node_list!r}; set MASTER_ADDR explicitly')
    return out[0]


def set_launcher_env(launcher: str,
                     port: Optional[int] = None) -> Tuple[int, int, int]:
    """Fill ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_*`` for a launcher.

    ``pytorch`` (torchrun) already sets them; for ``slurm`` they come from
    ``SLURM_PROCID``/``SLURM_NTASKS``/``SLURM_LOCALID``/``SLURM_NODELIST``
    and for ``mpi`` from ``OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK}``, as in
    MMEngine's ``init_dist``. ``MASTER_PORT`` defaults to 29500; an existing
    ``MASTER_ADDR`` is kept.

    Args:
        launcher (str): ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        port (int, optional): Master port for ``slurm`` (as MMEngine's
            ``dist_cfg.port``). Defaults to None.

    Returns:
        tuple[int, int, int]: ``(rank, world_size, local_rank)``.
    """
    if launcher == 'pytorch':
        rank = _env_int('RANK', launcher)
        world_size = _env_int('WORLD_SIZE', launcher)
        local_rank = int(os.environ.get('LOCAL_RANK', 0))
        for name in ('MASTER_ADDR', 'MASTER_PORT'):
            if name not in os.environ:
                raise KeyError(f'--launcher pytorch needs the environment '
                               f'variable {name} (set by torchrun)')
    elif launcher == 'slurm':
        rank = _env_int('SLURM_PROCID', launcher)
        world_size = _env_int('SLURM_NTASKS', launcher)
        local_rank = int(os.environ.get('SLURM_LOCALID', 0))
        if port is not None:
            os.environ['MASTER_PORT'] = str(port)
        os.environ.setdefault('MASTER_PORT', DEFAULT_MASTER_PORT)
        if 'MASTER_ADDR' not in os.environ:
            if 'SLURM_NODELIST' not in os.environ:
                raise KeyError('--launcher slurm needs SLURM_NODELIST or '
                               'MASTER_ADDR in the environment')
            os.environ['MASTER_ADDR'] = _slurm_master_addr(
                os.environ['SLURM_NODELIST'])
    elif launcher == 'mpi':
        rank = _env_int('OMPI_COMM_WORLD_RANK', launcher)
        world_size = _env_int('OMPI_COMM_WORLD_SIZE', launcher)
        local_rank = int(os.environ.get('OMPI_COMM_WORLD_LOCAL_RANK', 0))
        os.environ.setdefault('MASTER_PORT', DEFAULT_MASTER_PORT)
        if 'MASTER_ADDR' not in os.environ:
            raise KeyError('--launcher mpi needs the environment variable '
                           'MASTER_ADDR')
    else:
        raise ValueError(f'launcher must be one of {LAUNCHERS[1:]} for a '
                         f'distributed run, got {launcher!r}')
    if not 0 <= rank < world_size:
        raise ValueError(f'rank {rank} is outside world size {world_size}')
    os.environ['RANK'] = str(rank)
    os.environ['WORLD_SIZE'] = str(world_size)
    os.environ['LOCAL_RANK'] = str(local_rank)
    return rank, world_size, local_rank


def init_cpu_process_group(launcher: str,
                           backend: str = 'gloo',
                           timeout: Optional[float] = None,
                           port: Optional[int] = None,
                           init_backend: str = 'torch',
                           **kwargs) -> None:
    """Create the default process group for CPU processes.

    Does what MMEngine's ``init_dist`` does minus ``torch.cuda.set_device``.
    Nothing happens if a group already exists.

    Args:
        launcher (str): ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        backend (str): A CPU backend (``'gloo'`` or ``'mpi'``). Defaults to
            ``'gloo'``.
        timeout (float, optional): Collective timeout in seconds. Defaults
            to None (torch's default).
        port (int, optional): Master port for ``slurm``. Defaults to None.
        init_backend (str): Only ``'torch'`` is supported on CPU. Defaults
            to ``'torch'``.
        **kwargs: Passed to :func:`torch.distributed.init_process_group`.
    """
    if torch_dist.is_initialized():
        return
    if backend in ACCELERATOR_BACKENDS:
        raise ValueError(f'backend {backend!r} needs an accelerator; use '
                         "'gloo' on a CPU-only machine")
    if init_backend != 'torch':
        raise ValueError(f'dist_cfg.init_backend={init_backend!r} is not '
                         "supported on CPU; only 'torch' is")
    rank, world_size, _ = set_launcher_env(launcher, port=port)
    if timeout is not None:
        try:
            kwargs['timeout'] = datetime.timedelta(seconds=timeout)
        except TypeError:
            raise TypeError('dist_cfg.timeout must be a number of seconds, '
                            f'got {timeout!r}') from None
    torch_dist.init_process_group(
        backend=backend, rank=rank, world_size=world_size, **kwargs)


def cpu_model_wrapper_cfg(cfg: Config) -> Optional[dict]:
    """Return ``cfg.model_wrapper_cfg`` adapted to modules on the CPU.

    Without ``model_wrapper_cfg`` the Runner builds
    ``MMDistributedDataParallel(device_ids=[LOCAL_RANK],
    broadcast_buffers=False,
    find_unused_parameters=cfg.find_unused_parameters)``; the returned
    config builds the same wrapper with ``device_ids=None``. A given config
    of a ``DistributedDataParallel`` subclass (e.g.
    ``MMSeparateDistributedDataParallel``) gets ``device_ids=None``; other
    wrappers are returned unchanged.

    Args:
        cfg (Config): The full config.

    Returns:
        dict | None: The wrapper config for the Runner.

    Raises:
        ValueError: If ``model_wrapper_cfg`` asks for ``device_ids`` while no
            accelerator exists.
    """
    wrapper_cfg = cfg.get('model_wrapper_cfg', None)
    if wrapper_cfg is None:
        return dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper_cfg = dict(wrapper_cfg)
    wrapper_type = wrapper_cfg.setdefault('type', 'MMDistributedDataParallel')
    if isinstance(wrapper_type, str):
        wrapper_cls = MODEL_WRAPPERS.get(wrapper_type)
        if wrapper_cls is None:
            raise KeyError(f'model_wrapper_cfg.type={wrapper_type!r} is not '
                           'a registered model wrapper')
    else:
        wrapper_cls = wrapper_type
    if not (isinstance(wrapper_cls, type)
            and issubclass(wrapper_cls, DistributedDataParallel)):
        return wrapper_cfg
    if wrapper_cfg.get('device_ids', None) is not None:
        raise ValueError(
            f'model_wrapper_cfg.device_ids={wrapper_cfg["device_ids"]!r} '
            'but no GPU is available; remove it (CPU modules need '
            'device_ids=None)')
    wrapper_cfg['device_ids'] = None
    return wrapper_cfg


def setup_distributed(cfg: Config) -> str:
    """Prepare ``cfg`` (and the process group) for ``cfg.launcher``.

    Call it after the command line has been merged into ``cfg`` and before
    ``Runner.from_cfg(cfg)``.

    - ``launcher='none'``: nothing to do.
    - an accelerator exists: nothing to do; MMEngine creates the group with
      ``env_cfg.dist_cfg`` (``nccl`` for CUDA) after
      ``torch.cuda.set_device(LOCAL_RANK)``.
    - CPU only: the backend becomes ``gloo`` (unless ``mpi``/``gloo`` was
      asked for), the process group is created here, and
      ``cfg.model_wrapper_cfg`` gets ``device_ids=None``.

    Args:
        cfg (Config): Full config; ``cfg.launcher`` and ``cfg.env_cfg`` are
            read, ``cfg.env_cfg.dist_cfg.backend`` and
            ``cfg.model_wrapper_cfg`` may be changed.

    Returns:
        str: The backend in use: ``'none'`` for a non-distributed run, else
        the name in ``env_cfg.dist_cfg.backend``.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher not in LAUNCHERS:
        raise ValueError(
            f'launcher must be one of {LAUNCHERS}, got {launcher!r}')
    if launcher == 'none':
        return 'none'
    env_cfg = cfg.get('env_cfg', None)
    if env_cfg is None:
        env_cfg = cfg.env_cfg = dict()
    dist_cfg = env_cfg.get('dist_cfg', None)
    if dist_cfg is None:
        dist_cfg = env_cfg['dist_cfg'] = dict()
    if accelerator_available():
        return dist_cfg.get('backend', 'nccl')
    backend = dist_cfg.get('backend', 'nccl')
    if backend in ACCELERATOR_BACKENDS:
        print_log(
            f'No GPU available: using the gloo backend instead of '
            f'{backend} for --launcher {launcher}',
            logger='current')
        backend = 'gloo'
    dist_cfg['backend'] = backend
    init_cpu_process_group(launcher, **dist_cfg)
    cfg.model_wrapper_cfg = cpu_model_wrapper_cfg(cfg)
    return backend


def teardown_distributed(success: bool = True) -> None:
    """Leave the process group cleanly at the end of a tool.

    A process that exits with a live gloo/NCCL group can abort in the C++
    destructor of the group's worker threads (``terminate called without
    an active exception``, exit code -6), which torchrun reports as a failed
    run although training had finished. ``tools/train.py`` and
    ``tools/test.py`` therefore call this before returning: after a
    successful run every rank first waits for the others (so no rank tears
    down while a peer still talks to it), then the group is destroyed. After
    an error the barrier is skipped (a failed peer would never reach it).
    Nothing happens when no group exists.

    Args:
        success (bool): Whether the run finished without an exception.
            Defaults to True.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    try:
        if success:
            torch_dist.barrier()
    finally:
        torch_dist.destroy_process_group()
