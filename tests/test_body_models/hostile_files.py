"""Builders of hostile/malformed files for the hostile-file tests (issue 12),
shared by tests/test_body_models and tests/test_datasets.

Everything is made by hand here: pickles from opcodes or from crafted
objects, ``.npy`` members with forged headers, zip archives with forged
sizes. Nothing is loaded from outside the test.
"""
import io
import os
import pickle
import struct
import zipfile

import numpy as np

#: Prelude for ``tests.isolated.run_isolated`` snippets: registers the
#: ``mpt_plugin`` packages as bare namespaces so a child imports only the
#: module under test (the package ``__init__`` pulls torch/mmpose, ~30 s on
#: the shared CPU) and not the whole plugin.
LIGHT_IMPORTS = '''
import os, sys, types
for _name in ('mpt_plugin', 'mpt_plugin.body_models', 'mpt_plugin.utils',
              'mpt_plugin.datasets'):
    _mod = types.ModuleType(_name)
    _mod.__path__ = [os.path.join(os.getcwd(), *_name.split('.'))]
    sys.modules[_name] = _mod
'''

#: Extra prelude for a child that imports ``mpt_plugin.datasets.
#: human_data_io``: ``body_models.conventions`` imports torch (13 s here) for
#: tensor helpers that a file read never calls, so the child gets an inert
#: ``torch`` module whose attributes are empty classes.
NO_TORCH = '''
_torch = types.ModuleType('torch')
_torch.__getattr__ = lambda name: type(name, (), {})
sys.modules['torch'] = _torch
'''


def npy_bytes(payload: bytes, shape, descr: str = '<f8',
              fortran: bool = False) -> bytes:
    """An ``.npy`` member: a v1.0 header declaring ``shape``/``descr``
    (whatever the payload really holds), then ``payload``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {'descr': descr, 'fortran_order': fortran, 'shape': tuple(shape)})
    return buf.getvalue() + payload


def object_npy_bytes(pickle_payload: bytes, shape=()) -> bytes:
    """An object-dtype ``.npy`` member whose pickle is ``pickle_payload``."""
    return npy_bytes(pickle_payload, shape, descr='|O')


def write_zip(path, members: dict, compression=zipfile.ZIP_STORED) -> str:
    """Writes ``{name: bytes}`` (``.npy`` appended) as a zip archive."""
    with zipfile.ZipFile(path, 'w', compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name + '.npy', data)
    return str(path)


def forge_uncompressed_size(path, new_size: int) -> None:
    """Rewrites every declared uncompressed size of a zip archive (local
    headers and central directory) to ``new_size``: a lying zip bomb."""
    raw = bytearray(open(path, 'rb').read())
    pos = 0
    while True:
        pos = raw.find(b'PK\x03\x04', pos)
        if pos < 0:
            break
        raw[pos + 22:pos + 26] = struct.pack('<I', new_size)
        pos += 4
    pos = 0
    while True:
        pos = raw.find(b'PK\x01\x02', pos)
        if pos < 0:
            break
        raw[pos + 24:pos + 28] = struct.pack('<I', new_size)
        pos += 4
    with open(path, 'wb') as f:
        f.write(bytes(raw))


# --- hand-written protocol-2 pickles ----------------------------------------

#: ``bytearray(2**31 - 1)``: 2 GiB zero-filled from 32 bytes.
BYTEARRAY_SIZE_PKL = (b'\x80\x02c__builtin__\nbytearray\n'
                      b'J\xff\xff\xff\x7f\x85R.')
#: ``BYTEARRAY8`` (protocol 5) declaring 8 GiB, holding 1 byte.
BYTEARRAY8_PKL = b'\x80\x05\x96' + struct.pack('<Q', 8 << 30) + b'x.'
#: ``BINBYTES8`` (protocol 4) declaring 1 TiB, holding 3 bytes.
BINBYTES8_PKL = b'\x80\x04\x8e' + struct.pack('<Q', 1 << 40) + b'abc.'
#: ``LONG_BINPUT`` at memo index 2**31 - 1 (CPython sizes its memo by it).
MEMO_INDEX_PKL = b'\x80\x02Nr\xff\xff\xff\x7f.'
#: ``numpy.ndarray((10**10,), 'u1')`` called directly.
NDARRAY_CALL_PKL = (b'\x80\x02cnumpy\nndarray\n'
                    b'\x8a\x05\x00\xe4\x0bT\x02\x85X\x02\x00\x00\x00u1\x86R.')


def set_of(arg_pickle: bytes) -> bytes:
    """``builtins.set(<arg>)`` where ``arg_pickle`` pushes one object."""
    return b'\x80\x02c__builtin__\nset\n' + arg_pickle + b'\x85R.'


def nested_lists(depth: int, top_key: str = 'v_template') -> bytes:
    """``{top_key: [[[...]]]}`` nested ``depth`` deep (EMPTY_LIST/APPEND,
    which needs no recursion to pickle)."""
    key = top_key.encode()
    return (b'\x80\x02}X' + struct.pack('<I', len(key)) + key + b']' * depth
            + b'a' * (depth - 1) + b's.')


def cyclic_list(top_key: str = 'v_template') -> bytes:
    """``{top_key: l}`` with ``l = [l]``."""
    key = top_key.encode()
    return (b'\x80\x02}X' + struct.pack('<I', len(key)) + key +
            b']q\x00h\x00as.')


def array_state_pkl(shape, dtype: str, raw: bytes) -> bytes:
    """``_reconstruct(ndarray, (0,), 'b')`` then ``BUILD`` with the state
    ``(1, shape, dtype, False, raw)``: the shape is whatever we claim."""
    shape_pkl = b'(' + b''.join(b'\x8a\x08' + struct.pack('<q', s)
                                for s in shape) + b't'
    dt = dtype.encode()
    return (b'\x80\x02cnumpy.core.multiarray\n_reconstruct\n'
            b'cnumpy\nndarray\nK\x00\x85U\x01b\x87R'
            b'(K\x01' + shape_pkl + b'cnumpy\ndtype\nU' + bytes([len(dt)]) +
            dt + b'K\x00K\x01\x87R(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff'
            b'\xff\xffK\x00tb\x89C' + bytes([len(raw)]) + raw + b'tb.')


def dict_pkl(items: dict) -> bytes:
    """Protocol-2 pickle of a dict of real objects."""
    return pickle.dumps(items, protocol=2)


def file_size(path) -> int:
    return os.path.getsize(path)
