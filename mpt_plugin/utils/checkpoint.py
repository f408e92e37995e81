"""Let MMEngine Runner checkpoints load with ``weights_only=True``.

Since torch 2.6, :func:`torch.load` defaults to ``weights_only=True``: its
unpickler only rebuilds tensors, containers and globals on an allowlist.
MMEngine 0.10.7 calls ``torch.load`` without ``weights_only``, and a Runner
checkpoint holds more than tensors:

- ``message_hub['log_scalars']``: :class:`mmengine.logging.HistoryBuffer`
  objects whose state holds numpy ``float64``/``int64`` arrays and the
  buffer's statistics methods (pickled as ``getattr(HistoryBuffer, 'min')``
  etc.), and empty arrays whose data pickle writes as ``bytes()``;
- ``message_hub['runtime_info']`` and ``meta``: numpy scalars (``eta``,
  metric values) and the dataset's ``metainfo`` with numpy arrays (MMPose
  datasets: ``uint8`` colours, ``float32`` sigmas/weights);
- ``param_schedulers``: ``collections.Counter`` (allowed by torch already).

:func:`register_checkpoint_safe_globals` adds exactly those globals to
torch's allowlist (:func:`torch.serialization.add_safe_globals`), so
``--resume`` and ``load_from`` work while a checkpoint that tries to call
anything else (e.g. ``os.system`` through ``__reduce__``) is still refused.
It never disables the check (no ``weights_only=False``, no
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``). The project reads checkpoints through
:mod:`mpt_plugin.utils.safe_checkpoint`, which passes ``weights_only=True``
explicitly (so the environment variable cannot turn it off) and names the
file in every error.

The list was found by saving real Runner checkpoints (toy regression runs
and MMPose dataset metainfo) and loading them with ``weights_only=True``
(``torch.serialization.get_unsafe_globals_in_checkpoint`` lists the globals;
the dtype classes are needed by the ``BUILD`` step of ``numpy.dtype``).
"""
import inspect
import pickle
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

SafeGlobal = Union[Callable, Tuple[Callable, str]]

# Fixed-size numeric and boolean dtypes: their classes only carry a type
# code, byte order and flags. Object, string, void and datetime dtypes are
# left out on purpose.
_DTYPE_CODES = ('?', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2',
                'f4', 'f8')


def _history_buffer_getattr(obj: Any, name: str) -> Callable:
    """Stand-in for ``builtins.getattr`` while unpickling checkpoints.

    ``HistoryBuffer.__getstate__`` stores its statistics methods, which
    pickle (protocol 2) writes as ``getattr(HistoryBuffer, 'mean')``.
    Allowing the real :func:`getattr` would let a checkpoint reach any
    attribute of any allowed object, so only public functions defined on
    :class:`HistoryBuffer` are returned.

    Args:
        obj (Any): Must be the :class:`HistoryBuffer` class.
        name (str): A public method name of it (``'min'``, ``'max'``,
            ``'current'``, ``'mean'``, ...).

    Returns:
        Callable: ``HistoryBuffer.<name>``.

    Raises:
        pickle.UnpicklingError: For any other object or name.
    """
    if (obj is HistoryBuffer and isinstance(name, str)
            and not name.startswith('_')
            and inspect.isfunction(HistoryBuffer.__dict__.get(name))):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        'mpt_plugin checkpoint loading: getattr is only allowed for '
        f'HistoryBuffer statistics methods, got getattr({obj!r}, {name!r})')


def _empty_bytes(*args: Any) -> bytes:
    """Stand-in for ``builtins.bytes`` while unpickling checkpoints.

    Pickle protocol 2 (``torch.save``'s default) writes an empty ``bytes``
    object as the call ``bytes()``; numpy does so for the data of empty
    arrays (an empty ``HistoryBuffer``, an empty ``sigmas`` array in MMPose
    metainfo). Only that call is allowed.

    Returns:
        bytes: ``b''``.

    Raises:
        pickle.UnpicklingError: If called with arguments.
    """
    if args:
        raise pickle.UnpicklingError(
            'mpt_plugin checkpoint loading: only bytes() without arguments '
            f'is allowed, got {len(args)} argument(s)')
    return b''


def _numpy_multiarray() -> Any:
    """Return numpy's ``multiarray`` module (``numpy._core`` in numpy 2)."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    return multiarray


def checkpoint_safe_globals() -> List[SafeGlobal]:
    """List the globals that Runner checkpoints need beyond torch's defaults.

    Returns:
        list: Classes/functions, or ``(callable, 'module.name')`` pairs where
        the name in the pickle differs from the object's own path:
        ``builtins.getattr`` maps to a HistoryBuffer-only stand-in,
        ``builtins.bytes`` to one that only makes ``b''``, and the
        numpy 1.x paths ``numpy.core.multiarray.{_reconstruct,scalar}`` map
        to the current functions so checkpoints saved with numpy < 2 (e.g.
        released OpenMMLab models) load too.
    """
    multiarray = _numpy_multiarray()
    safe: List[SafeGlobal] = [
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
        (_empty_bytes, 'builtins.bytes'),
        np.ndarray,
        np.dtype,
        (multiarray._reconstruct, 'numpy._core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy._core.multiarray.scalar'),
        (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy.core.multiarray.scalar'),
    ]
    safe.extend(type(np.dtype(code)) for code in _DTYPE_CODES)
    return safe


def register_checkpoint_safe_globals() -> None:
    """Allow MMEngine Runner checkpoints under ``weights_only=True`` loads.

    Adds :func:`checkpoint_safe_globals` to torch's weights-only allowlist.
    Idempotent (torch keeps a set; repeated calls change nothing) and a
    no-op on torch versions without
    :func:`torch.serialization.add_safe_globals` (those load with
    ``weights_only=False`` by default anyway).
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return
    add_safe_globals(checkpoint_safe_globals())


def checkpoint_safe_globals_registered() -> bool:
    """Whether all of :func:`checkpoint_safe_globals` are currently allowed.

    Returns:
        bool: True if every entry is in torch's user allowlist.
    """
    get_safe_globals = getattr(torch.serialization, 'get_safe_globals', None)
    if get_safe_globals is None:
        return False
    current = set(get_safe_globals())
    return all(g in current for g in checkpoint_safe_globals())
