"""file_io: atomic writes and file hashes."""
import hashlib

from mpt_plugin.utils.file_io import sha256_file, write_atomic


def test_sha256_file_in_blocks(tmp_path):
    data = bytes(range(256)) * 9000  # > 1 MiB: several blocks
    path = tmp_path / 'blob.bin'
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / 'empty'
    empty.write_bytes(b'')
    assert sha256_file(str(empty)) == hashlib.sha256(b'').hexdigest()


def test_write_atomic_replaces_whole_files(tmp_path):
    path = tmp_path / 'out.txt'
    def writer(text):
        def write(tmp):
            with open(tmp, 'wb') as f:
                f.write(text)
        return write

    write_atomic(path, writer(b'first'))
    write_atomic(path, writer(b'second'))
    assert path.read_bytes() == b'second'
    assert [p.name for p in tmp_path.iterdir()] == ['out.txt']
