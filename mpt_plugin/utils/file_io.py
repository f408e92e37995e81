"""Small file helpers shared by the data-generation tools."""
import hashlib
import os
import os.path as osp
import tempfile
from typing import Callable, Union

__all__ = ['write_atomic', 'sha256_file']


def write_atomic(path: Union[str, os.PathLike],
                 writer: Callable[[str], None]) -> None:
    """Call ``writer(tmp)`` on a temporary file next to ``path`` (same
    folder and suffix), then rename it onto ``path``, so an interrupted run
    never leaves a truncated file; the temporary file is removed if the
    writer fails.

    Args:
        path (str | os.PathLike): Final file path; its folder is created.
        writer (Callable[[str], None]): Writes the content to the path it
            is given.
    """
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix=osp.splitext(path)[1],
                               dir=folder)
    os.close(fd)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def sha256_file(path: Union[str, os.PathLike]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()
