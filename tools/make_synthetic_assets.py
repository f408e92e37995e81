"""Write the embedded synthetic assets that let every pipeline run.

Layout written under ``--out DIR`` (all deterministic for a ``--seed``)::

    DIR/body_models/SMPL_NEUTRAL.npz       synthetic SMPL-format models
    DIR/body_models/SMPL_MALE.npz          (smplx-style npz, plain arrays)
    DIR/body_models/SMPL_FEMALE.npz
    DIR/body_models/J_regressor_h36m.npy   (17, 6890), SPIN/mmhuman3d rows
    DIR/body_models/mesh_downsampling.npz  6890 -> 1723 -> 431 hierarchy
    DIR/amass/...                          AMASS-format motion tree
    DIR/MANIFEST.json                      files, sizes, sha256, seed, version

and with ``--hands`` the synthetic MANO-format hands::

    DIR/body_models/MANO_RIGHT.npz         778 vertices, open at the wrist
    DIR/body_models/MANO_LEFT.npz          its mirror (official left layout)
    DIR/body_models/mano_downsampling.npz  778 -> 195 -> 49 -> 13 -> 4
    DIR/hand_poses/train.npz               1520 right-hand poses (+ betas)
    DIR/hand_poses/val.npz                 128 other poses

The hand pose sets (format: ``mpt_plugin.datasets.hand_pose_io``; read by
``MPTHandPoseDataset``) stand in for MobRecon's "Complement" poses: finger
articulations within joint limits of the synthetic right hand
(``mpt_plugin.synthetic.hand_poses``), seeds ``1000 * --seed + 1`` (train)
and ``+ 2`` (val).

Every file is written to a temporary name in its folder and renamed into
place (the AMASS tree as a whole folder), so an interrupted run never leaves
a partial file; ``--skip-existing`` keeps what is already there unless
``MANIFEST.json`` says it was made with another seed or generator version
(then everything is regenerated).

Example::

    python tools/make_synthetic_assets.py --out data/synthetic --skip-existing
    python tools/make_synthetic_assets.py --out data/synthetic --hands
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _ROOT not in sys.path:  # allow running from a checkout without install
    sys.path.insert(0, _ROOT)

from mpt_plugin.synthetic.body_rigging import (  # noqa: E402
    make_synthetic_h36m_regressor)
from mpt_plugin.synthetic.hand_mesh_sampling import (  # noqa: E402
    build_hand_mesh_sampling)
from mpt_plugin.synthetic.hand_model import (  # noqa: E402
    HAND_GENERATOR_VERSION, make_synthetic_mano, save_mano_npz)
from mpt_plugin.synthetic.hand_poses import (  # noqa: E402
    HAND_POSE_GENERATOR_VERSION, make_hand_pose_set, save_hand_pose_set)
from mpt_plugin.synthetic.smpl_model import (  # noqa: E402
    GENERATOR_VERSION, make_synthetic_smpl, save_smpl_npz)
from mpt_plugin.utils.file_io import sha256_file, write_atomic  # noqa: E402

GENDER_FILES = {
    'neutral': 'SMPL_NEUTRAL.npz',
    'male': 'SMPL_MALE.npz',
    'female': 'SMPL_FEMALE.npz',
}
H36M_REGRESSOR_FILE = 'J_regressor_h36m.npy'
MESH_DOWNSAMPLING_FILE = 'mesh_downsampling.npz'
HAND_FILES = {True: 'MANO_RIGHT.npz', False: 'MANO_LEFT.npz'}
MANO_DOWNSAMPLING_FILE = 'mano_downsampling.npz'
HAND_POSE_DIR = 'hand_poses'
#: split -> (number of poses, seed offset); 1520 is Complement's count
HAND_POSE_SPLITS = {'train': (1520, 1), 'val': (128, 2)}
AMASS_DIR = 'amass'
MANIFEST_FILE = 'MANIFEST.json'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write the synthetic SMPL-format body models, the H36M '
        'regressor, the mesh down-sampling file and an AMASS-format motion '
        'tree (and with --hands the MANO-format hands).')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--seed', type=int, default=0,
        help='seed of the small per-body variation and of the motions '
        '(default: 0)')
    parser.add_argument(
        '--skip-existing', action='store_true',
        help='keep files that already exist (fast re-run); files from '
        'another seed or generator version are still regenerated')
    parser.add_argument(
        '--hands', action='store_true',
        help='also write the synthetic MANO-format hands (MANO_RIGHT.npz, '
        'MANO_LEFT.npz, mano_downsampling.npz in body_models/) and the hand '
        'pose sets (hand_poses/train.npz, hand_poses/val.npz)')
    parser.add_argument('--quiet', action='store_true', help='no progress')
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f'--seed must be >= 0, got {args.seed}')
    return args


class _Assets:
    """Builds the assets lazily (each model at most once)."""

    def __init__(self, out: Path, seed: int, skip_existing: bool,
                 quiet: bool, hands: bool = False) -> None:
        self.out, self.seed = out, seed
        self.skip_existing, self.quiet = skip_existing, quiet
        self.with_hands = hands
        self._models: Dict[str, Dict[str, np.ndarray]] = {}
        self._hands: Dict[bool, Dict[str, np.ndarray]] = {}

    def log(self, msg: str) -> None:
        if not self.quiet:
            print(f'[make_synthetic_assets] {msg}', flush=True)

    def model(self, gender: str) -> Dict[str, np.ndarray]:
        if gender not in self._models:
            self._models[gender] = make_synthetic_smpl(gender, self.seed)
        return self._models[gender]

    def produce(self, rel: str, writer: Callable[[str], None]) -> None:
        path = self.out / rel
        if self.skip_existing and path.exists():
            self.log(f'exists, skipped: {rel}')
            return
        start = time.perf_counter()
        write_atomic(path, writer)
        self.log(f'wrote {rel} ({path.stat().st_size:,} bytes, '
                 f'{time.perf_counter() - start:.1f} s)')

    def body_models(self) -> None:
        for gender, name in GENDER_FILES.items():
            self.produce(f'body_models/{name}',
                         lambda tmp, g=gender: save_smpl_npz(
                             tmp, self.model(g)))
        self.produce(
            f'body_models/{H36M_REGRESSOR_FILE}', lambda tmp: np.save(
                tmp, make_synthetic_h36m_regressor(self.model('neutral'))))

        def mesh_downsampling(tmp: str) -> None:
            from mpt_plugin.synthetic.mesh_downsampling import (
                build_mesh_sampling, save_mesh_downsampling)
            neutral = self.model('neutral')
            sampling = build_mesh_sampling(
                neutral['v_template'], neutral['f'].astype(np.int64),
                factors=(4, 4))
            save_mesh_downsampling(tmp, sampling)

        self.produce(f'body_models/{MESH_DOWNSAMPLING_FILE}',
                     mesh_downsampling)

    def hand(self, is_rhand: bool) -> Dict[str, np.ndarray]:
        if is_rhand not in self._hands:
            self._hands[is_rhand] = make_synthetic_mano(is_rhand, self.seed)
        return self._hands[is_rhand]

    def hands(self) -> None:
        for is_rhand, name in HAND_FILES.items():
            self.produce(f'body_models/{name}',
                         lambda tmp, r=is_rhand: save_mano_npz(
                             tmp, self.hand(r)))

        def mano_downsampling(tmp: str) -> None:
            from mpt_plugin.synthetic.mesh_downsampling import \
                save_mesh_downsampling
            save_mesh_downsampling(tmp,
                                   build_hand_mesh_sampling(self.hand(True)))

        self.produce(f'body_models/{MANO_DOWNSAMPLING_FILE}',
                     mano_downsampling)

        for split, (num, offset) in HAND_POSE_SPLITS.items():
            self.produce(
                f'{HAND_POSE_DIR}/{split}.npz',
                lambda tmp, n=num, o=offset: save_hand_pose_set(
                    tmp, make_hand_pose_set(self.hand(True), n,
                                            1000 * self.seed + o)))

    def amass(self) -> None:
        final = self.out / AMASS_DIR
        if self.skip_existing and final.is_dir():
            self.log(f'exists, skipped: {AMASS_DIR}/')
            return
        from mpt_plugin.synthetic.amass_motion import \
            make_synthetic_amass_tree
        start = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix='.tmp-amass-', dir=self.out))
        try:
            files = make_synthetic_amass_tree(tmp, seed=self.seed)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.log(f'wrote {AMASS_DIR}/ ({len(files)} motion files, '
                 f'{time.perf_counter() - start:.1f} s)')

    def manifest(self) -> None:
        entries = []
        for path in sorted(self._listed_files()):
            rel = path.relative_to(self.out).as_posix()
            entries.append({'path': rel, 'size': path.stat().st_size,
                            'sha256': sha256_file(path)})
        manifest = {
            'generator': 'tools/make_synthetic_assets.py',
            'generator_version': GENERATOR_VERSION,
            'seed': self.seed,
            'files': entries,
        }
        if any(e['path'] in self._hand_paths() for e in entries):
            manifest['hand_generator_version'] = HAND_GENERATOR_VERSION
        if any(e['path'] in self._hand_pose_paths() for e in entries):
            manifest['hand_pose_generator_version'] = \
                HAND_POSE_GENERATOR_VERSION
        text = json.dumps(manifest, indent=2) + '\n'

        def write(tmp: str) -> None:
            with open(tmp, 'w', encoding='utf-8') as fh:
                fh.write(text)

        write_atomic(self.out / MANIFEST_FILE, write)
        self.log(f'wrote {MANIFEST_FILE} ({len(entries)} files)')

    @staticmethod
    def _hand_pose_paths() -> List[str]:
        return [f'{HAND_POSE_DIR}/{split}.npz' for split in HAND_POSE_SPLITS]

    @classmethod
    def _hand_paths(cls) -> List[str]:
        return [f'body_models/{name}' for name in
                list(HAND_FILES.values()) + [MANO_DOWNSAMPLING_FILE]
                ] + cls._hand_pose_paths()

    def _listed_files(self) -> List[Path]:
        files = [self.out / 'body_models' / name for name in
                 list(GENDER_FILES.values()) +
                 [H36M_REGRESSOR_FILE, MESH_DOWNSAMPLING_FILE]]
        files += [self.out / rel for rel in self._hand_paths()
                  if (self.out / rel).is_file()]
        amass = self.out / AMASS_DIR
        if amass.is_dir():
            files += [p for p in amass.rglob('*')
                      if p.is_file() and not p.name.startswith('.tmp-')]
        return files

    def existing_files_usable(self) -> bool:
        """Whether files already in ``--out`` may be kept: a manifest from
        another seed or generator version means they are stale."""
        path = self.out / MANIFEST_FILE
        if not path.is_file():
            return True
        try:
            old = json.loads(path.read_text(encoding='utf-8'))
            found = (old['seed'], old['generator_version'])
        except (OSError, ValueError, KeyError, TypeError) as err:
            self.log(f'unreadable {MANIFEST_FILE} ({err}); regenerating '
                     'everything')
            return False
        if found != (self.seed, GENERATOR_VERSION):
            self.log(f'existing assets have seed/version {found}, this run '
                     f'{(self.seed, GENERATOR_VERSION)}; regenerating '
                     'everything')
            return False
        hand_version = old.get('hand_generator_version')
        if self.with_hands and hand_version not in (None,
                                                    HAND_GENERATOR_VERSION):
            self.log(f'existing hands have generator {hand_version}, this '
                     f'run {HAND_GENERATOR_VERSION}; regenerating everything')
            return False
        pose_version = old.get('hand_pose_generator_version')
        if self.with_hands and pose_version not in (
                None, HAND_POSE_GENERATOR_VERSION):
            self.log(f'existing hand poses have generator {pose_version}, '
                     f'this run {HAND_POSE_GENERATOR_VERSION}; regenerating '
                     'everything')
            return False
        return True


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    assets = _Assets(Path(args.out), args.seed, args.skip_existing,
                     args.quiet, args.hands)
    if assets.skip_existing and not assets.existing_files_usable():
        assets.skip_existing = False
    assets.log(f'writing synthetic assets to {args.out} (seed {args.seed}, '
               f'generator {GENERATOR_VERSION})')
    assets.body_models()
    if args.hands:
        assets.hands()
    assets.amass()
    assets.manifest()
    assets.log(f'done in {time.perf_counter() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
