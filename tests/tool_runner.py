"""Running the project's tools in subprocesses from tests: one environment
(the repository on PYTHONPATH, one OpenMP thread, no inherited launcher
variables) and one runner that shows the tool's output tail on failure."""
import os
import os.path as osp
import socket
import subprocess
import sys
from typing import Callable, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
LAUNCHER_VARS = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR',
                 'MASTER_PORT')


def tool_env() -> dict:
    """Environment for ``tools/*.py`` and ``tools/*.sh`` subprocesses."""
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    env['PYTHON'] = sys.executable
    env['OMP_NUM_THREADS'] = '1'
    # checkpoints must load under torch's weights_only default
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    for name in LAUNCHER_VARS:
        env.pop(name, None)
    return env


def run_tool(cmd: Sequence[str],
             cwd: Optional[str] = None,
             timeout: float = 600,
             env: Optional[dict] = None) -> str:
    """Run ``cmd``; assert it succeeds; return its stdout + stderr."""
    proc = subprocess.run(list(map(str, cmd)), cwd=cwd or REPO,
                          env=env or tool_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-6000:]
    return proc.stdout


def capture_tool(cmd: Sequence[str],
                 cwd: Optional[str] = None,
                 timeout: float = 600,
                 env: Optional[dict] = None) -> Tuple[Optional[int], str]:
    """Run ``cmd``; return ``(returncode, stdout + stderr)`` without
    asserting (for runs started from a fixture, e.g. several at once on a
    thread pool, and checked by the tests that read them). A run past
    ``timeout`` is killed and returns ``(None, output + a note)``."""
    try:
        proc = subprocess.run(list(map(str, cmd)), cwd=cwd or REPO,
                              env=env or tool_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or ''
        if isinstance(out, bytes):
            out = out.decode(errors='replace')
        return None, f'{out}\n[timed out after {timeout} s: {cmd}]'
    return proc.returncode, proc.stdout


def free_port() -> int:
    """A free TCP port on localhost (for distributed rendezvous)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def start_tool(cmd: Sequence[str],
               env: Optional[dict] = None) -> subprocess.Popen:
    """Start ``cmd`` in the repository root (output captured, merged)."""
    return subprocess.Popen([str(c) for c in cmd], cwd=REPO,
                            env=env or tool_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def start_tool_logged(cmd: Sequence[str],
                      cwd: Optional[str] = None,
                      env: Optional[dict] = None) -> subprocess.Popen:
    """:func:`start_tool` with the output (merged) going to an anonymous
    temporary file instead of a pipe, for runs started together and awaited
    one after the other: a pipe nobody reads yet would fill up and stall the
    run. :func:`finish_tool` reads it back."""
    import tempfile
    log = tempfile.TemporaryFile(mode='w+', encoding='utf-8',
                                 errors='replace')
    proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd or REPO,
                            env=env or tool_env(), stdout=log,
                            stderr=subprocess.STDOUT, text=True)
    proc.tool_log = log
    return proc


def finish_tool(proc: subprocess.Popen, timeout: float,
                tail: Callable[[str], str] = lambda out: out[-4000:]
                ) -> Tuple[int, str]:
    """Wait for a :func:`start_tool` (or :func:`start_tool_logged`)
    process; return ``(returncode, output)``; a run past ``timeout`` is
    killed and fails the test with ``tail(output)``."""
    import pytest
    log = getattr(proc, 'tool_log', None)
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        out, _ = proc.communicate()
    if log is not None:  # started by start_tool_logged
        log.seek(0)
        out = log.read()
        log.close()
    if timed_out:
        pytest.fail(f'{proc.args} timed out:\n{tail(out)}')
    return proc.returncode, out


def load_tool(name: str, prefix: str = 'mpt_tools'):
    """Import ``tools/<name>.py`` as a module ``<prefix>_<name>`` (for
    in-process tests of a tool's ``main``)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        f'{prefix}_{name}', osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def image_workspace(synthetic_assets: str, root, prefix: str):
    """A working folder for the image demos: ``data/synthetic`` links to the
    session's assets, ``data/synthetic_images`` holds the rendered image
    datasets (``tools/make_synthetic_images.py``'s main, in this process).

    The demos validate on subject S8, held out of ``h36m_train.npz``: 40
    images = 5 sequences of 8 frames, one per training subject. Written
    first, so that ``--all`` keeps it (an existing file is skipped) instead
    of rendering 8 images that would be overwritten.
    """
    (root / 'data').mkdir()
    os.symlink(synthetic_assets, root / 'data' / 'synthetic')
    make_images = load_tool('make_synthetic_images', prefix)
    images = str(root / 'data' / 'synthetic_images')
    body_models = str(root / 'data' / 'synthetic' / 'body_models')
    assert make_images.main([
        '--layout', 'train_full', '--dataset-name', 'h36m', '--ann-file',
        'h36m_train.npz', '--data-prefix', images, '--body-model-dir',
        body_models, '--num', '40', '--overwrite', '--quiet'
    ]) == 0
    assert make_images.main([
        '--all', '--data-prefix', images, '--body-model-dir', body_models,
        '--num', '8', '--quiet'
    ]) == 0
    return root
