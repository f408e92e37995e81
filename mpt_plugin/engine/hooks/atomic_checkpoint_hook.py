"""Write checkpoints atomically, so a killed run never leaves a truncated
file under a final name.

MMEngine 0.10.7's ``CheckpointHook`` saves through
``Runner.save_checkpoint`` -> ``mmengine.runner.checkpoint.save_checkpoint``
(``torch.save`` into memory) -> the file backend's ``put`` (``LocalBackend``:
``open(path, 'wb').write(...)``), then writes the ``last_checkpoint`` pointer
with ``open(..., 'w')``. A kill during either write leaves a truncated
``iter_N.pth``/``epoch_N.pth`` or an empty pointer behind.

- :func:`atomic_write` writes a temporary file in the same folder
  (``.NAME.HOST.PID.RANDOM.tmp``), flushes and fsyncs it, then
  :func:`os.replace` puts it under its final name in one step;
- :class:`MPTAtomicLocalBackend` (file backend ``'mpt_atomic_local'``) is
  MMEngine's ``LocalBackend`` with ``put``/``put_text`` done that way;
- :class:`MPTAtomicCheckpointHook` is ``CheckpointHook`` that uses that
  backend for a local ``out_dir`` (periodic, last and best checkpoints),
  writes ``last_checkpoint`` atomically, deletes checkpoints beyond
  ``max_keep_ckpts`` only after the new one and the pointer are in place
  (a kill during a save still leaves the previous checkpoint to resume
  from), and removes temporary files that killed runs on this machine left
  behind. ``configs/_base_/default_runtime.py`` and every shipped config use
  it.
"""
import os
import os.path as osp
import re
import socket
import uuid
from typing import Callable, Optional, Union

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook

from mpt_plugin.registry import HOOKS

__all__ = [
    'atomic_write', 'remove_stale_temp_files', 'choose_backend_args',
    'MPTAtomicLocalBackend', 'MPTAtomicCheckpointHook', 'ATOMIC_BACKEND'
]

ATOMIC_BACKEND = 'mpt_atomic_local'
POINTER_FILE = 'last_checkpoint'
_TMP_SUFFIX = '.tmp'


def _host() -> str:
    return re.sub(r'[^A-Za-z0-9_-]', '-', socket.gethostname())[:64] or 'host'


def _temp_name(path: str) -> str:
    """``.NAME.HOST.PID.RANDOM.tmp`` next to ``path``."""
    folder, name = osp.split(path)
    return osp.join(
        folder, f'.{name}.{_host()}.{os.getpid()}.{uuid.uuid4().hex[:8]}'
        f'{_TMP_SUFFIX}')


def _write_all(fileobj, data: bytes, path: str) -> None:
    fileobj.write(data)


def atomic_write(path: Union[str, os.PathLike],
                 data: bytes,
                 write: Optional[Callable] = None) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Readers see the old file (or none) until the new one is complete; a
    kill at any moment leaves at most a ``.NAME.*.tmp`` file behind. The
    folder is created if needed; the file gets the usual permissions
    (``0o666`` minus the umask).

    Args:
        path (str | PathLike): Final file name.
        data (bytes): The whole content.
        write (callable, optional): ``write(fileobj, data, path)`` writing
            ``data`` into the open temporary file; defaults to one
            ``fileobj.write(data)``.

    Raises:
        OSError: The folder is not writable, the disk is full, ...; the
            temporary file is removed and ``path`` is unchanged.
    """
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = _temp_name(osp.abspath(path))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, 'wb') as fileobj:
            (write or _write_all)(fileobj, data, path)
            fileobj.flush()
            os.fsync(fileobj.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def remove_stale_temp_files(folder: str) -> list:
    """Delete temporary files of :func:`atomic_write` in ``folder`` whose
    writer (same host name, a process id that no longer runs) was killed.

    Returns:
        list[str]: The removed paths.
    """
    pattern = re.compile(r'^\..+\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.'
                         r'[0-9a-f]{8}' + re.escape(_TMP_SUFFIX) + '$')
    removed = []
    if not osp.isdir(folder):
        return removed
    host = _host()
    for name in os.listdir(folder):
        match = pattern.match(name)
        if not match or match['host'] != host:
            continue
        pid = int(match['pid'])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue  # the writer still runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # another user's live process
        path = osp.join(folder, name)
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass
    return removed


@register_backend(ATOMIC_BACKEND)
class MPTAtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend with atomic ``put``/``put_text``
    (:func:`atomic_write`)."""

    def _write_payload(self, fileobj, data: bytes, path: str) -> None:
        """Write ``data`` into the open temporary file of ``path``."""
        fileobj.write(data)

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        """Write bytes to ``filepath`` atomically."""
        atomic_write(filepath, obj, self._write_payload)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, os.PathLike],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically."""
        atomic_write(filepath, obj.encode(encoding), self._write_payload)


def choose_backend_args(out_dir: str,
                        backend_args: Optional[dict]) -> Optional[dict]:
    """``backend_args`` for checkpoints saved under ``out_dir``: the atomic
    local backend replaces MMEngine's plain local one (``None`` or
    ``dict(backend='local')`` for a path without ``scheme://``); any other
    choice is returned unchanged.
    """
    plain_local = not backend_args or (set(backend_args) == {'backend'}
                                       and backend_args['backend'] == 'local')
    if plain_local and '://' not in str(out_dir):
        return dict(backend=ATOMIC_BACKEND)
    return backend_args


@HOOKS.register_module()
class MPTAtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose checkpoints and ``last_checkpoint`` pointer
    are written atomically; same arguments as MMEngine's ``CheckpointHook``.

    For a local ``out_dir`` with no (or ``backend='local'``)
    ``backend_args`` the files go through :class:`MPTAtomicLocalBackend`;
    other backends (``s3://``, a custom ``backend``) are used as given.
    Old checkpoints beyond ``max_keep_ckpts`` are deleted after the new
    checkpoint and the pointer are written (MMEngine deletes before).
    """

    def before_train(self, runner) -> None:
        out_dir = self.out_dir if self.out_dir is not None \
            else runner.work_dir
        if self.file_client_args is None:
            self.backend_args = choose_backend_args(out_dir,
                                                    self.backend_args)
        super().before_train(runner)
        if is_main_process():
            for folder in {self.out_dir, runner.work_dir}:
                if '://' not in str(folder):
                    for path in remove_stale_temp_files(folder):
                        runner.logger.info(
                            f'removed {path}, left by a killed checkpoint '
                            'write')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Refuse to resume from a checkpoint without ``meta.epoch`` and
        ``meta.iter`` (e.g. a bare state_dict), which MMEngine's
        ``Runner.resume`` would meet with a bare ``KeyError``."""
        if not getattr(runner, '_resume', False):
            return
        meta = checkpoint.get('meta', None)
        if isinstance(meta, dict) and 'epoch' in meta and 'iter' in meta:
            return
        from mmengine.runner.checkpoint import find_latest_checkpoint

        from mpt_plugin.utils.safe_checkpoint import CorruptCheckpointError
        name = runner._load_from or find_latest_checkpoint(runner.work_dir)
        raise CorruptCheckpointError(
            f'checkpoint {name} cannot be resumed: it has no meta.epoch / '
            'meta.iter (a weights-only checkpoint?); start from its weights '
            f'with load_from={name} instead of --resume', name)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """Save ``filename_tmpl.format(step)``, then the pointer, then drop
        checkpoints beyond ``max_keep_ckpts``."""
        drop = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                drop = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            # saved in this checkpoint's message hub, so a resume keeps
            # the same list
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        atomic_write(
            osp.join(runner.work_dir, POINTER_FILE),
            str(self.last_ckpt).encode('utf-8'))
        if drop is not None:
            old = self.file_backend.join_path(self.out_dir,
                                              self.filename_tmpl.format(drop))
            if self.file_backend.isfile(old):
                self.file_backend.remove(old)
            elif self.file_backend.isdir(old):  # DeepSpeed checkpoints
                self.file_backend.rmtree(old)
