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


def finish_tool(proc: subprocess.Popen, timeout: float,
                tail: Callable[[str], str] = lambda out: out[-4000:]
                ) -> Tuple[int, str]:
    """Wait for a :func:`start_tool` process; return ``(returncode,
    output)``; a run past ``timeout`` is killed and fails the test with
    ``tail(output)``."""
    import pytest
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
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
