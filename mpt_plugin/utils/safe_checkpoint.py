"""Read checkpoint files without running code from them, whatever the
environment says.

:func:`torch.load` reads a pickle; a pickle can name any Python callable
(``os.system``...) and have the unpickler call it. ``weights_only=True``
restricts the unpickler to tensors, containers and an allow-list of
globals. torch 2.13 (``torch/serialization.py``) uses ``weights_only=True``
when the argument is not given, but the environment variable
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` turns such calls back into full
unpickling; it only leaves calls that pass ``weights_only=True`` explicitly
alone. MMEngine 0.10.7 calls ``torch.load`` without the argument in every
``CheckpointLoader`` scheme (``load_from_local`` for ``load_from``,
``--resume``, ``resume='auto'`` through ``last_checkpoint``,
``tools/test.py``'s checkpoint, ``Pretrained`` init and
``mmengine.runner.load_checkpoint``), and its ``http(s)://`` scheme goes
through ``torch.hub.load_state_dict_from_url``, which passes
``weights_only=False``.

This module is the project's one checkpoint reader:

- :func:`load_checkpoint_file` calls ``torch.load(..., weights_only=True)``
  with the allow-list of :mod:`mpt_plugin.utils.checkpoint` registered, and
  turns every failure into an error that names the file:
  :class:`UnsafeCheckpointError` (the pickle names a global outside the
  allow-list, e.g. an ``os.system`` payload, or the file is a TorchScript
  archive) or :class:`CorruptCheckpointError` (empty, truncated, random
  bytes, a damaged ``data.pkl``, not a PyTorch file, not a dict);
- :func:`install_safe_checkpoint_loaders` (run by ``import mpt_plugin``)
  replaces every scheme of MMEngine's ``CheckpointLoader`` (``force=True``)
  with loaders that end in :func:`load_checkpoint_file`, so the Runner
  (``load_from``, ``resume``), ``Pretrained`` init, ``CheckpointHook`` and
  ``mmengine.runner.load_checkpoint`` all read checkpoints this way.

What this does not check: that the tensors' values are sensible (NaN,
shapes; ``load_state_dict`` checks shapes), or that a checkpoint is the one
you meant to load. Allow-listed classes (numpy arrays, MMEngine's
``HistoryBuffer``) are rebuilt from the file's data.
"""
import io
import os
import os.path as osp
import pickle
import re
import urllib.parse
import warnings
from typing import Any, Callable, Optional, Union

import torch

from .checkpoint import register_checkpoint_safe_globals

__all__ = [
    'CheckpointLoadError', 'UnsafeCheckpointError', 'CorruptCheckpointError',
    'CheckpointNotFoundError',
    'load_checkpoint_file', 'read_checkpoint',
    'install_safe_checkpoint_loaders',
    'safe_checkpoint_loaders_installed', 'SAFE_SCHEMES',
    'load_estimator_weights'
]

MapLocation = Optional[Union[str, torch.device, Callable, dict]]

# weights-only refusals of a global (torch/_weights_only_unpickler.py)
_GLOBAL_REFUSED = (
    re.compile(r'GLOBAL (\S+) was not an allowed global'),
    re.compile(r'unsupported GLOBAL (\S+) whose module \S+ is blocked'),
)
_WEIGHTS_ONLY_PREFIX = 'Weights only load failed'
_DOCS_TAIL = 'Check the documentation of torch.load'


class CheckpointLoadError(RuntimeError):
    """A checkpoint file could not be loaded; the message names the file.

    Args:
        message (str): The message (names the file).
        filename (str, optional): The file (or URL) that failed.
    """

    def __init__(self, message: str, filename: Optional[str] = None) -> None:
        super().__init__(message)
        self.filename = filename


class UnsafeCheckpointError(CheckpointLoadError, pickle.UnpicklingError):
    """The checkpoint needs more than weights-only unpickling allows (a
    global outside the allow-list, e.g. ``os.system``); nothing from it
    was called."""


class CorruptCheckpointError(CheckpointLoadError):
    """The file is empty, truncated, damaged or not a PyTorch checkpoint."""


class CheckpointNotFoundError(CheckpointLoadError, FileNotFoundError):
    """No file at the checkpoint path (also a :class:`FileNotFoundError`)."""

    def __new__(cls, message: str, filename: Optional[str] = None):
        # OSError.__new__ would read two arguments as (errno, strerror)
        return FileNotFoundError.__new__(cls, message)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def _torch_reason(message: str) -> str:
    """The informative part of a torch load error (without the advice to
    set ``weights_only=False``, which is wrong for untrusted files)."""
    text = message.split(_DOCS_TAIL)[0]
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:')[-1]
    elif text.startswith(_WEIGHTS_ONLY_PREFIX):
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        text = lines[-1] if len(lines) > 1 else text
    text = ' '.join(text.split())
    if len(text) > 120 and '. ' in text:  # torch's advice follows
        text = text[:text.index('. ') + 1]
    return text[:300] or '(no message)'


def _refused_global(message: str) -> Optional[str]:
    """``module.name`` of the global the weights-only unpickler refused."""
    for pattern in _GLOBAL_REFUSED:
        match = pattern.search(message)
        if match:
            return match.group(1).rstrip('.')
    return None


def _describe(name: str, size: Optional[int]) -> str:
    return f'{name} ({size} bytes)' if size is not None else name


def _translate(exc: BaseException, name: str,
               size: Optional[int]) -> CheckpointLoadError:
    """Map a failure of ``torch.load(weights_only=True)`` to our errors."""
    message = str(exc)
    what = _describe(name, size)
    refused = _refused_global(message)
    if refused is not None:
        return UnsafeCheckpointError(
            f'refused to load checkpoint {what}: its pickle calls '
            f'{refused}, which is not on the weights-only allow-list '
            "(torch's defaults plus mpt_plugin.utils.checkpoint."
            'checkpoint_safe_globals()). Loading it could run code from '
            'the file, and nothing from it was run. Load checkpoints only '
            'from sources you trust; '
            'torch.serialization.get_unsafe_globals_in_checkpoint lists '
            'what a file needs', name)
    if 'TorchScript' in message:
        return UnsafeCheckpointError(
            f'refused to load checkpoint {what}: it is a TorchScript '
            'archive (it contains code); export a state_dict with '
            'torch.save(model.state_dict(), path) instead', name)
    if isinstance(exc, RuntimeError) and 'CUDA' in message and \
            'deserialize' in message:
        return CheckpointLoadError(
            f'checkpoint {what} holds CUDA tensors and no GPU is '
            f'available: {_torch_reason(message)}', name)
    if isinstance(exc, MemoryError):
        return CorruptCheckpointError(
            f'checkpoint {what} declares more data than fits in memory '
            '(MemoryError): it is damaged or hostile', name)
    return CorruptCheckpointError(
        f'checkpoint {what} cannot be read: it is truncated, damaged or '
        f'not a PyTorch checkpoint ({type(exc).__name__}: '
        f'{_torch_reason(message)})', name)


def load_checkpoint_file(source: Union[str, os.PathLike, io.BytesIO],
                         map_location: MapLocation = None,
                         name: Optional[str] = None) -> Any:
    """``torch.load(source, weights_only=True)`` with the project's
    allow-list; every failure is an error naming the file.

    Args:
        source (str | PathLike | BytesIO): A local file path (``~`` is
            expanded) or an in-memory file.
        map_location: As :func:`torch.load`. Defaults to None.
        name (str, optional): Name used in messages (the URL of a download,
            the key of an object store); defaults to the path.

    Returns:
        Any: The loaded object (tensors, containers, allow-listed classes).

    Raises:
        CheckpointNotFoundError: ``source`` is a path to no file (a
            :class:`FileNotFoundError`).
        UnsafeCheckpointError: The pickle needs a global outside the
            allow-list (nothing of it was run), or a TorchScript archive.
        CorruptCheckpointError: The file is empty, truncated, damaged or
            not a PyTorch checkpoint.
        CheckpointLoadError: Other load failures (e.g. CUDA tensors on a
            machine without a GPU).
    """
    if isinstance(source, (io.BytesIO, io.BufferedIOBase)):
        name = name or '<in-memory checkpoint>'
        size = len(source.getbuffer()) if isinstance(source,
                                                     io.BytesIO) else None
    else:
        path = osp.expanduser(os.fspath(source))
        name = name or path
        if not osp.isfile(path):
            raise CheckpointNotFoundError(
                f'checkpoint file not found: {name}', name)
        size = osp.getsize(path)
        source = path
    if size == 0:
        raise CorruptCheckpointError(
            f'checkpoint {name} is empty (0 bytes): it was cut short while '
            'being written or copied; use another checkpoint', name)
    register_checkpoint_safe_globals()
    try:
        # weights_only=True explicitly: torch then ignores
        # TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD (only None is overridden)
        return torch.load(
            source, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001  (each case is translated)
        raise _translate(exc, name, size) from exc


def _require_dict(obj: Any, name: str) -> dict:
    """A checkpoint for MMEngine is a dict (``state_dict`` or a Runner
    checkpoint with ``meta``/``state_dict``/...)."""
    if not isinstance(obj, dict):
        raise CorruptCheckpointError(
            f'checkpoint {name} holds a {type(obj).__name__}, but a '
            'checkpoint must be a dict (a state_dict, or a dict with '
            '"state_dict")', name)
    return obj


# --------------------------------------------------------------------------
# MMEngine CheckpointLoader schemes
# --------------------------------------------------------------------------


def _load_local(filename: str, map_location: MapLocation = None) -> dict:
    """Scheme ``''``: a local file (``load_from``, ``--resume``, tools)."""
    if not filename:
        raise CheckpointNotFoundError(
            'no checkpoint path given (an empty string: is the work '
            "directory's last_checkpoint file empty?)", filename)
    path = osp.expanduser(filename)
    return _require_dict(load_checkpoint_file(path, map_location), path)


def _download(url: str) -> str:
    """Download ``url`` into torch hub's ``checkpoints`` cache (once; rank
    0 first in distributed runs) and return the local path."""
    from mmengine.dist import barrier, get_dist_info
    hub_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    filename = osp.basename(urllib.parse.urlparse(url).path)
    if not filename:
        raise CheckpointLoadError(f'checkpoint URL {url} names no file', url)
    cached = osp.join(hub_dir, filename)
    rank, world_size = get_dist_info()

    def fetch() -> None:
        if not osp.isfile(cached):
            os.makedirs(hub_dir, exist_ok=True)
            # writes a temporary file and moves it into place
            torch.hub.download_url_to_file(url, cached, progress=False)

    if rank == 0:
        fetch()
    if world_size > 1:
        barrier()
        if rank > 0:
            fetch()
    return cached


def _load_http(filename: str, map_location: MapLocation = None) -> dict:
    """Schemes ``http://``/``https://``: download, then read safely."""
    cached = _download(filename)
    return _require_dict(
        load_checkpoint_file(
            cached, map_location, name=f'{cached} (from {filename})'),
        filename)


def _load_torchvision(filename: str,
                      map_location: MapLocation = None) -> dict:
    """Schemes ``torchvision://NAME`` / ``modelzoo://NAME``."""
    from mmengine.runner.checkpoint import get_torchvision_models
    name = filename.split('://', 1)[1]
    urls = get_torchvision_models()
    if name not in urls:
        raise CheckpointLoadError(
            f'{filename}: unknown torchvision model {name!r}', filename)
    return _load_http(urls[name], map_location)


def _load_openmmlab(filename: str, map_location: MapLocation = None) -> dict:
    """Schemes ``open-mmlab://NAME`` / ``openmmlab://NAME``."""
    from mmengine.runner.checkpoint import (_get_mmengine_home,
                                            get_deprecated_model_names,
                                            get_external_models)
    name = filename.split('://', 1)[1]
    name = get_deprecated_model_names().get(name, name)
    urls = get_external_models()
    if name not in urls:
        raise CheckpointLoadError(
            f'{filename}: unknown OpenMMLab model {name!r}', filename)
    url = urls[name]
    if url.startswith(('http://', 'https://')):
        return _load_http(url, map_location)
    return _load_local(osp.join(_get_mmengine_home(), url), map_location)


def _load_mmcls(filename: str, map_location: MapLocation = None) -> dict:
    """Scheme ``mmcls://NAME``."""
    from mmengine.runner.checkpoint import (_process_mmcls_checkpoint,
                                            get_mmcls_models)
    name = filename.split('://', 1)[1]
    urls = get_mmcls_models()
    if name not in urls:
        raise CheckpointLoadError(
            f'{filename}: unknown mmcls model {name!r}', filename)
    return _process_mmcls_checkpoint(_load_http(urls[name], map_location))


def _load_object_store(filename: str,
                       map_location: MapLocation = None) -> dict:
    """Schemes ``s3://`` / ``petrel://`` (petrel client): read the bytes,
    then load them safely."""
    from mmengine.fileio import get_file_backend
    backend = get_file_backend(filename, backend_args={'backend': 'petrel'})
    with io.BytesIO(backend.get(filename)) as buffer:
        return _require_dict(
            load_checkpoint_file(buffer, map_location, name=filename),
            filename)


def _load_pavi(filename: str, map_location: MapLocation = None) -> dict:
    """Scheme ``pavi://``: not supported (download the file instead)."""
    raise CheckpointLoadError(
        f'{filename}: pavi:// checkpoints are not loaded by mpt_plugin; '
        'download the file and pass its local path', filename)


# prefix (regular expression, as MMEngine matches them) -> loader
SAFE_SCHEMES = {
    '': _load_local,
    'http://': _load_http,
    'https://': _load_http,
    'torchvision://': _load_torchvision,
    'modelzoo://': _load_torchvision,
    'open-mmlab://': _load_openmmlab,
    'openmmlab://': _load_openmmlab,
    'mmcls://': _load_mmcls,
    r'(\S+\:)?s3://': _load_object_store,
    r'(\S+\:)?petrel://': _load_object_store,
    'pavi://': _load_pavi,
}
# MMEngine prints "Loads checkpoint by {__name__[10:]} backend"
for _fn in set(SAFE_SCHEMES.values()):
    _fn.__name__ = 'load_from_safe_' + _fn.__name__.lstrip('_')[5:]


def read_checkpoint(filename: str, map_location: MapLocation = None) -> dict:
    """Read a checkpoint dict from a local path or a URL/scheme path with
    the loaders of :data:`SAFE_SCHEMES` (whatever is registered in
    MMEngine's ``CheckpointLoader``).

    Args:
        filename (str): Local path, ``http(s)://``, ``torchvision://``,
            ``open-mmlab://``, ``mmcls://``, ``s3://`` path.
        map_location: As :func:`torch.load`.

    Returns:
        dict: The checkpoint.

    Raises:
        CheckpointLoadError: (and subclasses) as :func:`load_checkpoint_file`.
    """
    filename = os.fspath(filename)
    # longest prefix first, as MMEngine orders its schemes
    for prefix in sorted(SAFE_SCHEMES, reverse=True):
        if re.match(prefix, filename) is not None:
            return SAFE_SCHEMES[prefix](filename, map_location)
    raise AssertionError('the empty prefix matches every path')


def install_safe_checkpoint_loaders() -> None:
    """Make every MMEngine ``CheckpointLoader`` scheme load with
    ``weights_only=True`` (:data:`SAFE_SCHEMES`, registered with
    ``force=True``). Idempotent; ``import mpt_plugin`` calls it.

    A scheme this module does not know (a newer MMEngine, another plugin)
    is left alone with a warning.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    register_checkpoint_safe_globals()
    for prefix, loader in SAFE_SCHEMES.items():
        CheckpointLoader.register_scheme(prefix, loader, force=True)
    unknown = sorted(p for p in CheckpointLoader._schemes
                     if p not in SAFE_SCHEMES)
    if unknown:
        warnings.warn(
            'mpt_plugin: CheckpointLoader has schemes without a weights-only '
            f'loader: {unknown}; checkpoints with these prefixes are read by '
            'their own loader, which may unpickle code. Add them to '
            'mpt_plugin.utils.safe_checkpoint.SAFE_SCHEMES')


def safe_checkpoint_loaders_installed() -> bool:
    """Whether every ``CheckpointLoader`` scheme is one of ours."""
    from mmengine.runner.checkpoint import CheckpointLoader
    return all(SAFE_SCHEMES.get(p) is loader
               for p, loader in CheckpointLoader._schemes.items())


def load_estimator_weights(estimator: torch.nn.Module, path: str) -> None:
    """Load pre-trained weights into ``estimator`` (in place).

    Accepts an estimator checkpoint (keys as the estimator's
    ``state_dict``) or a :class:`MPTWGANDomainAdaptation` checkpoint (keys
    ``estimator.*``). Missing or unexpected keys raise.

    Args:
        estimator (nn.Module): The estimator.
        path (str): Checkpoint file (``state_dict`` inside, or the dict
            itself).
    """
    # weights_only=True explicitly; a refused or broken file raises
    # CheckpointLoadError naming it
    ckpt = read_checkpoint(path, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise KeyError(f'{path}: no state_dict found')
    if any(k.startswith('estimator.') for k in state):
        state = {
            k[len('estimator.'):]: v
            for k, v in state.items() if k.startswith('estimator.')
        }
    state = {k[len('module.'):] if k.startswith('module.') else k: v
             for k, v in state.items()}
    result = estimator.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise KeyError(
            f'{path}: checkpoint does not match {type(estimator).__name__}: '
            f'missing {result.missing_keys[:5]}, unexpected '
            f'{result.unexpected_keys[:5]}')
