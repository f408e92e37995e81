"""GPU check of MPT pre-training: paper-size training steps, fp32 vs bf16.

Builds ``configs/mpt_pretrain_amass.py`` (the paper-size model; ``--config``
picks another pre-training config, e.g. the shrunk
``configs/mpt_pretrain_demo.py`` for a quick smoke run) with its data and
body models pointed at ``--data-root`` (``amass/``, ``body_models/``,
``cache/``; ``tools/make_synthetic_assets.py --out data/synthetic`` makes
them), and trains it for ``--warmup`` untimed then ``--iters`` timed
iterations on ``--device`` at ``--batch-size``: once in fp32 and once with
bf16 autocast (skipped, with a note, where the device has no bf16).

The model is driven directly, not through the Runner, so that nothing but
the training step is timed: dataset + ``Runner.build_dataloader`` (a static
builder, no Runner is made), the model from the MODELS registry, MMEngine's
``build_optim_wrapper`` with the config's optimiser (Adam), and per step
exactly what ``BaseModel.train_step`` does (data preprocessor in training
mode, forward in 'loss' mode, ``parse_losses``,
``optim_wrapper.update_params``), with MMEngine's ``optim_context``
replaced by ``torch.autocast(device, dtype=torch.bfloat16)`` around the
preprocessor and the forward in bf16 mode -- which is what
``AmpOptimWrapper(dtype='bfloat16')`` does, minus its GradScaler (bf16 has
fp32's exponent range and needs no loss scaling; plain autocast also runs
on a CPU, where AmpOptimWrapper refuses). Backward and the optimiser step
run outside autocast. Each mode builds a fresh model with the same seed.
Fetching the next batch from the loader is outside the timed step.

Usage::

    # the GPU check (paper-size model, batch 32, 5 + 30 iterations)
    python tools/benchmark/bench_gpu_check.py --json work_dirs/gpu_check.json
    # CPU smoke runs
    python tools/benchmark/bench_gpu_check.py --device cpu --iters 2 \\
        --warmup 1 --batch-size 2
    python tools/benchmark/bench_gpu_check.py --device cpu --iters 1 \\
        --warmup 1 --batch-size 2 --config configs/mpt_pretrain_demo.py

Columns of the printed markdown table (``--json OUT`` writes the same
numbers, plus the run's settings):

- ``mode``: fp32, or bf16 (autocast) -- the fp32 row notes whether TF32
  matmuls are on (``torch.backends.cuda.matmul.allow_tf32``);
- ``samples/s``: batch size / mean timed step time;
- ``step ms``: mean wall time of one training step (synchronised);
- ``peak mem GiB``: ``torch.cuda.max_memory_allocated`` over the mode's
  steps (reset before each mode); on a CPU the process's max RSS
  (``ru_maxrss``, never reset: the bf16 row includes the fp32 run);
- ``posing %``: share of the step spent in the data preprocessor's
  ``targets(...)`` calls (:class:`MoCapTargetBuilder`: SMPL posing,
  cameras, crops; CUDA events on a GPU, ``perf_counter`` on a CPU);
- ``preproc %``: share spent in the whole data preprocessor (posing +
  host-to-device copies + MHM + dense heatmap rendering when on);
- ``head TFLOP/s``: the head's analytic FLOPs per training sample
  (``MPTMeshTransformerHead.flops_per_sample(train=True)``, the counter
  ``bench_mpt_head.py`` reports: matrix products only, forward x 3 for
  forward + backward; dense or sparse patch embedding as the batch is fed)
  x samples/s. The whole step time is the denominator, so this is the
  head's model-FLOP utilisation of the step;
- ``peak TFLOP/s``: the device's dense peak for the mode from a small table
  of known devices (H100 / H200 SXM: bf16 989, fp32 67, TF32 495; H100
  PCIe: 756 / 51 / 378; A100: 312 / 19.5 / 156), 'n/a' elsewhere (CPUs
  included);
- ``% of peak``: head TFLOP/s / peak TFLOP/s;
- ``last loss``: the summed loss of the last step (finite check).
"""
import argparse
import datetime
import gc
import json
import logging
import math
import os
import os.path as osp
import resource
import shlex
import sys
import time
from contextlib import nullcontext
from typing import Dict, Iterator, List, Optional

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

#: Dense peak TFLOP/s by device-name fragment (first match wins):
#: (bf16, fp32, tf32).
PEAK_TFLOPS = (
    ('H100 PCIe', (756.0, 51.0, 378.0)),
    ('H100', (989.0, 67.0, 495.0)),
    ('H200', (989.0, 67.0, 495.0)),
    ('A100', (312.0, 19.5, 156.0)),
)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/mpt_pretrain_amass.py',
                        help='MPT pre-training config (default: the paper '
                        'size)')
    parser.add_argument('--data-root', default='data/synthetic',
                        help='folder with amass/, body_models/, cache/')
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--iters', type=int, default=30,
                        help='timed training iterations per mode')
    parser.add_argument('--warmup', type=int, default=5,
                        help='untimed iterations before timing, per mode')
    parser.add_argument('--num-samples', type=int, default=2000,
                        help='meshes sampled from --data-root/amass (x the '
                        "config's virtual views = samples); the loader "
                        'cycles when a mode needs more')
    parser.add_argument('--num-workers', type=int, default=4,
                        help='loader worker processes (0: in this process)')
    parser.add_argument('--modes', nargs='+', choices=['fp32', 'bf16'],
                        default=['fp32', 'bf16'])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', default=None, metavar='OUT',
                        help='also write the numbers to this JSON file')
    return parser.parse_args(argv)


def data_options(root: str, num_samples: int, batch_size: int,
                 num_workers: int) -> Dict[str, object]:
    """``--cfg-options``-style overrides: body models, mesh sampler and the
    training data under ``root``."""
    bm = osp.join(root, 'body_models')
    opts: Dict[str, object] = {}
    for key in ('model.body_model', 'model.data_preprocessor.body_model'):
        opts[f'{key}.model_path'] = bm
        opts[f'{key}.joints_regressor'] = osp.join(bm, 'J_regressor_h36m.npy')
    opts['model.mesh_sampler'] = osp.join(bm, 'mesh_downsampling.npz')
    loader = 'train_dataloader'
    opts.update({
        f'{loader}.dataset.data_root': osp.join(root, 'amass'),
        f'{loader}.dataset.cache_root': osp.join(root, 'cache'),
        f'{loader}.dataset.num_samples': num_samples,
        f'{loader}.dataset.sample_fps': None,
        f'{loader}.batch_size': batch_size,
        f'{loader}.num_workers': num_workers,
        f'{loader}.persistent_workers': num_workers > 0,
    })
    return opts


def peak_tflops(device: torch.device, mode: str,
                tf32: bool) -> Optional[float]:
    """Known dense peak of ``device`` for ``mode``, None if unknown."""
    if device.type != 'cuda':
        return None
    name = torch.cuda.get_device_name(device)
    for fragment, (bf16, fp32, tf32_peak) in PEAK_TFLOPS:
        if fragment in name:
            if mode == 'bf16':
                return bf16
            return tf32_peak if tf32 else fp32
    return None


def bf16_supported(device: torch.device) -> Optional[str]:
    """None if bf16 autocast runs on ``device``, else why not."""
    if device.type == 'cuda':
        return (None if torch.cuda.is_bf16_supported() else
                f'{torch.cuda.get_device_name(device)} has no bf16')
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            torch.mm(torch.ones(2, 2, device=device),
                     torch.ones(2, 2, device=device))
    except (RuntimeError, ValueError) as exc:
        return f'bf16 autocast unavailable on {device}: {exc}'
    return None


class SpanTimer:
    """Accumulated time of a module's forward calls: CUDA events on a GPU
    (no synchronisation inside the step), ``perf_counter`` on a CPU. Read
    :meth:`collect` after synchronising."""

    def __init__(self, module: torch.nn.Module, device: torch.device):
        self.cuda = device.type == 'cuda'
        self.spans: list = []
        self.enabled = False
        self._open = None
        self._handles = [
            module.register_forward_pre_hook(self._start),
            module.register_forward_hook(self._stop)
        ]

    def _now(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def _start(self, module, args):
        if self.enabled:
            self._open = self._now()

    def _stop(self, module, args, output):
        if self.enabled and self._open is not None:
            self.spans.append((self._open, self._now()))
            self._open = None

    def collect(self) -> float:
        """Seconds spent since the last call."""
        if self.cuda:
            total = sum(a.elapsed_time(b) for a, b in self.spans) / 1e3
        else:
            total = sum(b - a for a, b in self.spans)
        self.spans = []
        return total

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def cycle(loader) -> Iterator:
    while True:
        yield from loader


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _peak_memory_gib(device: torch.device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**30
    # Linux reports ru_maxrss in KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def build(cfg, device: torch.device, seed: int):
    """Model (on ``device``, training mode) and optimiser wrapper."""
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper

    from mpt_plugin.registry import MODELS
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    model.to(device).train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return model, optim_wrapper


def run_mode(cfg, loader_iter: Iterator, device: torch.device, mode: str,
             args: argparse.Namespace) -> dict:
    """Warm-up + timed training steps of a fresh model in ``mode``."""
    model, optim_wrapper = build(cfg, device, args.seed)
    preprocessor = model.data_preprocessor
    if getattr(preprocessor, 'targets', None) is None:
        raise ValueError(f'{args.config}: the data preprocessor poses no '
                         'bodies (no `targets`); this check is for MPT '
                         'pre-training configs')
    posing = SpanTimer(preprocessor.targets, device)
    preproc = SpanTimer(preprocessor, device)
    dense = []
    preprocessor.register_forward_hook(
        lambda m, a, out: dense.append('heatmaps' in out['inputs']))

    def autocast():
        if mode == 'bf16':
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return nullcontext()

    def step(batch) -> torch.Tensor:
        # BaseModel.train_step, with autocast as the optim_context
        with autocast():
            data = preprocessor(batch, True)
            losses = model._run_forward(data, mode='loss')
        loss, _ = model.parse_losses(losses)
        optim_wrapper.update_params(loss)
        return loss.detach()

    for _ in range(args.warmup):
        step(next(loader_iter))
    _sync(device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    posing.enabled = preproc.enabled = True
    times, t_posing, t_preproc = [], 0.0, 0.0
    loss = None
    for _ in range(args.iters):
        batch = next(loader_iter)
        _sync(device)
        start = time.perf_counter()
        loss = step(batch)
        _sync(device)
        times.append(time.perf_counter() - start)
        t_posing += posing.collect()
        t_preproc += preproc.collect()
    posing.remove()
    preproc.remove()
    total = sum(times)
    mean_t = total / len(times)
    samples_per_s = args.batch_size / mean_t
    sparse = not dense[-1]
    flops_sample = model.head.flops_per_sample(train=True,
                                               sparse_input=sparse)
    achieved = flops_sample * samples_per_s / 1e12
    tf32 = device.type == 'cuda' and torch.backends.cuda.matmul.allow_tf32
    peak = peak_tflops(device, mode, tf32)
    result = dict(
        mode=mode,
        tf32=bool(tf32),
        samples_per_s=samples_per_s,
        step_ms=1e3 * mean_t,
        peak_memory_gib=_peak_memory_gib(device),
        peak_memory_kind=('max_memory_allocated' if device.type == 'cuda'
                          else 'max_rss'),
        posing_share=t_posing / total,
        preprocessor_share=t_preproc / total,
        head_input='sparse' if sparse else 'dense',
        head_gflop_per_sample=flops_sample / 1e9,
        head_tflops=achieved,
        peak_tflops=peak,
        fraction_of_peak=None if peak is None else achieved / peak,
        last_loss=float(loss),
        head_params_m=model.head.num_parameters() / 1e6)
    return result


def _fmt(value, spec: str) -> str:
    return 'n/a' if value is None else format(value, spec)


def format_table(results: List[dict]) -> str:
    lines = [
        '| mode | samples/s | step ms | peak mem GiB | posing % | '
        'preproc % | head TFLOP/s | peak TFLOP/s | % of peak | last loss |',
        '|---|---|---|---|---|---|---|---|---|---|'
    ]
    for r in results:
        mode = r['mode']
        if 'skipped' in r:
            lines.append(f'| {mode} | skipped: {r["skipped"]} |' +
                         ' |' * 8)
            continue
        if mode == 'fp32':
            mode += ' (TF32 on)' if r['tf32'] else ''
        else:
            mode += ' (autocast)'
        frac = r['fraction_of_peak']
        lines.append(
            f'| {mode} | {r["samples_per_s"]:.2f} | {r["step_ms"]:.1f} | '
            f'{r["peak_memory_gib"]:.2f} | {100 * r["posing_share"]:.1f} | '
            f'{100 * r["preprocessor_share"]:.1f} | '
            f'{r["head_tflops"]:.3g} | {_fmt(r["peak_tflops"], ".1f")} | '
            f'{_fmt(None if frac is None else 100 * frac, ".1f")} | '
            f'{r["last_loss"]:.4f} |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmengine.utils import import_modules_from_strings

    import mpt_plugin  # noqa: F401  (registers the plugin's components)

    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: no CUDA device here (use --device '
                         'cpu for a smoke run)')
    config = args.config
    if not osp.isabs(config) and not osp.exists(config):
        config = osp.join(REPO, config)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(
        data_options(args.data_root, args.num_samples, args.batch_size,
                     args.num_workers))
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmpose'))

    loader = Runner.build_dataloader(cfg.train_dataloader, seed=args.seed)
    loader_iter = cycle(loader)
    device_name = (torch.cuda.get_device_name(device)
                   if device.type == 'cuda' else f'cpu ({os.cpu_count()} '
                   f'cores, {torch.get_num_threads()} threads)')
    results = []
    for mode in args.modes:
        why = bf16_supported(device) if mode == 'bf16' else None
        if why is not None:
            results.append(dict(mode=mode, skipped=why))
            continue
        results.append(run_mode(cfg, loader_iter, device, mode, args))
        gc.collect()  # the mode's model and optimiser state
        if device.type == 'cuda':
            torch.cuda.empty_cache()

    cmd = ' '.join(shlex.quote(a) for a in [
        'python', 'tools/benchmark/bench_gpu_check.py'
    ] + (sys.argv[1:] if argv is None else list(argv)))
    done = [r for r in results if 'skipped' not in r]
    head = (f'head: {done[0]["head_params_m"]:.1f} M parameters, '
            f'{done[0]["head_gflop_per_sample"]:.1f} GFLOP per training '
            f'sample ({done[0]["head_input"]} input, forward x 3)'
            if done else '')
    report = dict(
        command=cmd,
        config=args.config,
        device=device_name,
        torch=torch.__version__,
        cuda=torch.version.cuda,
        date=datetime.datetime.now().isoformat(timespec='seconds'),
        batch_size=args.batch_size,
        iters=args.iters,
        warmup=args.warmup,
        num_samples=args.num_samples,
        num_workers=args.num_workers,
        dataset_len=len(loader.dataset),
        results=results)
    print(format_table(results))
    print()
    print(f'Command: `{cmd}`')
    print(f'Config: {args.config}; batch {args.batch_size}, {args.warmup} '
          f'warm-up + {args.iters} timed iterations per mode; '
          f'{len(loader.dataset)} samples')
    if head:
        print(head)
    print(f'Device: {device_name}; torch {torch.__version__} (CUDA '
          f'{torch.version.cuda}); {report["date"]}')
    for r in results:
        if 'skipped' in r:
            print(f'Note: {r["mode"]} skipped: {r["skipped"]}')
    bad = [r['mode'] for r in done if not math.isfinite(r['last_loss'])]
    if bad:
        print(f'WARNING: non-finite loss in {bad}')
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == '__main__':
    main()
