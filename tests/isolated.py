"""Run a snippet of Python in a child interpreter, for cases that could
crash, hang or blow up the test process (hostile-file tests).

``run_isolated(code)`` returns the child's exit status, output and peak
resident memory, so a test can assert "exits 0 with this error" or "peak
memory below X" without risking the pytest process.
"""
import os
import os.path as osp
import subprocess
import sys
import textwrap
from dataclasses import dataclass

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

_WRAPPER = '''
import resource, sys, traceback
def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
_base = [_peak_mb()]
def mark_baseline():
    _base[0] = _peak_mb()
try:
    exec(compile({code!r}, '<isolated>', 'exec'),
         {{'__name__': '__isolated__', 'mark_baseline': mark_baseline}})
except BaseException as e:
    print('EXC:' + type(e).__module__ + '.' + type(e).__qualname__)
    print('MSG:' + str(e).replace('\\n', ' '))
    print('PEAK_ABOVE_BASE_MB:%.1f' % (_peak_mb() - _base[0]))
    sys.exit(3)
print('PEAK_ABOVE_BASE_MB:%.1f' % (_peak_mb() - _base[0]))
'''


@dataclass
class IsolatedResult:
    returncode: int  # 0 ok, 3 exception raised, negative = killed by signal
    stdout: str
    stderr: str
    exc_type: str  # 'module.Class' of the raised exception, '' if none
    message: str
    peak_above_base_mb: float  # peak RSS minus RSS after imports


def run_isolated(code: str, timeout: float = 60.0,
                 env: dict = None) -> IsolatedResult:
    """Run ``code`` in ``sys.executable`` (cwd = repository root).

    The baseline memory is the peak RSS before the snippet runs; a snippet
    that measures memory imports what it needs, then calls
    ``mark_baseline()`` (a global it is given) so imports do not count.

    Raises:
        subprocess.TimeoutExpired: the child ran past ``timeout`` (a hang).
    """
    wrapper = _WRAPPER.format(code=textwrap.dedent(code))
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, '-c', wrapper], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout,
                          env=full_env)
    exc_type = message = ''
    peak = float('nan')
    for line in proc.stdout.splitlines():
        if line.startswith('EXC:'):
            exc_type = line[4:]
        elif line.startswith('MSG:'):
            message = line[4:]
        elif line.startswith('PEAK_ABOVE_BASE_MB:'):
            peak = float(line.split(':', 1)[1])
    return IsolatedResult(proc.returncode, proc.stdout, proc.stderr, exc_type,
                          message, peak)
