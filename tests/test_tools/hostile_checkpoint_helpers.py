"""File backends that SIGKILL the process in the middle of writing one
checkpoint, to test what a kill during a save leaves behind.

Imported by training subprocesses through ``custom_imports``; the file to
die on is named by the environment variable ``MPT_TEST_KILL_WRITING``
(e.g. ``iter_4.pth``). Half of the bytes are written and flushed to disk,
then the process kills itself: a deterministic "kill while
``torch.save``'s output is being written".

- ``mpt_test_kill_mid_write``: :class:`MPTAtomicLocalBackend` (the
  temporary file gets half the bytes);
- ``mpt_test_kill_mid_write_plain``: MMEngine's ``LocalBackend`` behaviour
  (the final file gets half the bytes), to show what the atomic writer
  prevents.
"""
import os
import os.path as osp
import signal

from mmengine.fileio import LocalBackend, register_backend

from mpt_plugin.engine.hooks.atomic_checkpoint_hook import \
    MPTAtomicLocalBackend

KILL_ENV = 'MPT_TEST_KILL_WRITING'


def _maybe_die(fileobj, data: bytes, path: str) -> None:
    """Write half of ``data`` and SIGKILL this process if ``path`` is the
    file named by ``MPT_TEST_KILL_WRITING``."""
    if osp.basename(str(path)) != os.environ.get(KILL_ENV):
        return
    fileobj.write(data[:len(data) // 2])
    fileobj.flush()
    os.fsync(fileobj.fileno())
    os.kill(os.getpid(), signal.SIGKILL)


@register_backend('mpt_test_kill_mid_write', force=True)
class KillMidWriteAtomicBackend(MPTAtomicLocalBackend):
    """The atomic backend, killed halfway through one temporary file."""

    def _write_payload(self, fileobj, data: bytes, path: str) -> None:
        _maybe_die(fileobj, data, path)
        super()._write_payload(fileobj, data, path)


@register_backend('mpt_test_kill_mid_write_plain', force=True)
class KillMidWritePlainBackend(LocalBackend):
    """MMEngine's ``LocalBackend.put`` (open the final name, write), killed
    halfway through one file."""

    def put(self, obj: bytes, filepath) -> None:
        os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
        with open(filepath, 'wb') as fileobj:
            _maybe_die(fileobj, obj, filepath)
            fileobj.write(obj)
