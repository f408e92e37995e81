"""``MeshInferencer``: meshes of an image, a folder of images, a video or an
MMPose predictions file, written to disk (``tools/infer.py`` is its command
line).

Outputs under ``out_dir`` (each file written atomically: a temporary file
next to it, then renamed):

- ``overlays/<name>.png`` per image (the meshes over the whole image, far to
  near), ``overlays/<name>.mp4`` per video (every frame, in order, at the
  video's frame rate, OpenCV's ``mp4v``);
- ``meshes/<name>_<person>.obj`` (or ``.ply``) per image and person, for
  videos ``meshes/<name>_<frame>_<person>.obj``: metres, pelvis-centred,
  turned into a y-up frame for mesh viewers (:func:`write_obj`);
- ``inference_result.npz``: one HumanData file per run, with the keys
  mmhuman3d's ``demo/estimate_smpl.py`` writes, one row per person and
  image / frame (``N`` rows), written by
  :func:`~mpt_plugin.datasets.human_data_io.save_human_data`:

  - ``verts`` (N, V, 3) float32: the predicted vertices (metres, camera
    axes, pelvis-centred; see :mod:`mpt_plugin.apis.inference`);
  - ``pred_cams`` (N, 3) float32: weak perspective ``(s, tx, ty)`` of the
    person's square crop around its box (``x_norm = s (X + t)``,
    ``x_norm = 2 (x_px - c) / max(w, h)``, ``c`` the box centre);
  - ``bboxes_xyxy`` (N, 5) float32: ``x1, y1, x2, y2, score`` px (also as
    ``bbox_xywh`` (N, 5), so HumanData readers that need it load the file);
  - ``image_path`` (N,) str: the image's path relative to the input folder
    (its file name for a single image or a video; the detection source for
    a predictions file);
  - ``person_id`` (N,) int64: the row of the person's box in its image /
    frame (a video keeps the box order as the track);
  - ``frame_id`` (N,) int64: the frame of a video; for a folder the
    image's position in its sorted file listing (skipped files keep their
    numbers), for a list of files its position in the list;
  - ``smpl``: ``global_orient`` (N, 3), ``body_pose`` (N, 23, 3),
    ``betas`` (N, 10), axis-angle radians in the camera axes of ``verts``:
    only when the model predicts SMPL parameters (Key2Mesh). MPT
    regresses vertices and PC-HMR calibrates a mesh: for them ``smpl`` is
    not written (``verts`` and ``pred_cams`` carry the result).

Read it back with ``load_human_data(path, required=('image_path',))`` (or
mmhuman3d's ``HumanData.fromfile``).

Bad inputs: in a folder, a file that does not decode, or whose boxes are
bad, is skipped and listed in the returned ``failed`` (and logged); so is a
video frame with bad boxes. A single image or video that cannot be read, a
boxes file that is not valid JSON or a model of the wrong kind raise,
naming the input.
"""
import json
import logging
import os
import os.path as osp
import re
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmengine.logging import print_log
from mmengine.utils import ProgressBar
from mmpose.structures import PoseDataSample
from torch import nn

from mpt_plugin.datasets.human_data_io import save_human_data
from mpt_plugin.utils.file_io import write_atomic
from .inference import (ImageReadError, InferenceInputError, _model_cfg,
                        _test_pipeline_cfg, _window_spec, check_bboxes,
                        draw_meshes, find_faces, inference_keypoints,
                        inference_mesh, init_model, load_image,
                        mesh_stream_keypoints, model_input_kind,
                        track_windows, write_obj, write_ply)

__all__ = ['MeshInferencer', 'IMAGE_EXTENSIONS', 'VIDEO_EXTENSIONS',
           'RESULT_FILE']

#: Files of a folder read as images (lower-case extensions).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff',
                    '.webp', '.ppm', '.pgm')
#: Files read as videos.
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v',
                    '.mpg', '.mpeg')
#: The results file of a run.
RESULT_FILE = 'inference_result.npz'
_MESH_FORMATS = ('obj', 'ply')


class _Rows:
    """The results of a run, one row per person."""

    def __init__(self) -> None:
        self.image_path: List[str] = []
        self.frame_id: List[int] = []
        self.person_id: List[int] = []
        self.verts: List[np.ndarray] = []
        self.cams: List[np.ndarray] = []
        self.boxes: List[np.ndarray] = []
        self.smpl: List[Optional[Tuple[np.ndarray, ...]]] = []

    def add(self, name: str, frame_id: int, person_id: int,
            sample: PoseDataSample) -> None:
        pred = sample.pred_instances
        self.image_path.append(name)
        self.frame_id.append(int(frame_id))
        self.person_id.append(int(person_id))
        self.verts.append(np.asarray(pred.vertices[0], np.float32))
        self.cams.append(np.asarray(pred.camera[0], np.float32))
        self.boxes.append(np.concatenate([
            np.asarray(pred.bboxes[0], np.float32),
            np.asarray(pred.bbox_scores, np.float32).reshape(1)]))
        if all(k in pred for k in ('smpl_global_orient', 'smpl_body_pose',
                                   'smpl_betas')):
            self.smpl.append((pred.smpl_global_orient[0],
                              pred.smpl_body_pose[0], pred.smpl_betas[0]))
        else:
            self.smpl.append(None)

    def human_data(self) -> Dict[str, Any]:
        """The HumanData dict of the module docstring."""
        num = len(self.verts)
        verts = (np.stack(self.verts) if num else np.zeros((0, 0, 3),
                                                            np.float32))
        boxes = (np.stack(self.boxes) if num else np.zeros((0, 5),
                                                           np.float32))
        xywh = boxes.copy()
        xywh[:, 2:4] -= xywh[:, 0:2]
        data = dict(
            image_path=np.array(self.image_path, dtype=str).reshape(num),
            frame_id=np.array(self.frame_id, np.int64),
            person_id=np.array(self.person_id, np.int64),
            verts=verts.astype(np.float32),
            pred_cams=(np.stack(self.cams) if num else np.zeros(
                (0, 3), np.float32)).astype(np.float32),
            bboxes_xyxy=boxes.astype(np.float32),
            bbox_xywh=xywh.astype(np.float32))
        if num and all(s is not None for s in self.smpl):
            data['smpl'] = dict(
                global_orient=np.stack([s[0] for s in self.smpl]).astype(
                    np.float32),
                body_pose=np.stack([s[1] for s in self.smpl]).reshape(
                    num, 23, 3).astype(np.float32),
                betas=np.stack([s[2] for s in self.smpl]).astype(np.float32))
        return data


def _read_bboxes_file(path: str) -> Any:
    try:
        with open(path, encoding='utf-8') as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f'boxes file not found: {path}') from None
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise InferenceInputError(f'boxes file {path}: not valid JSON '
                                  f'({err})') from None


class _BoxSource:
    """Boxes per image / frame: one list for all, or a dict by name."""

    def __init__(self, bboxes: Any) -> None:
        if isinstance(bboxes, (str, os.PathLike)):
            self.where = os.fspath(bboxes)
            bboxes = _read_bboxes_file(self.where)
        else:
            self.where = 'bboxes'
        self.table = None
        self.shared = None
        if isinstance(bboxes, dict):
            self.table = {str(k): v for k, v in bboxes.items()}
        elif bboxes is not None:
            self.shared = bboxes

    def get(self, *keys: Union[str, int]) -> Any:
        """The boxes of the first key found (None = the whole image)."""
        if self.table is None:
            return self.shared
        for key in keys:
            if str(key) in self.table:
                return self.table[str(key)]
        return None


class MeshInferencer:
    """Meshes of images, folders, videos (or detections) on disk.

    Args:
        model (nn.Module | str | Config): A model from
            :func:`~mpt_plugin.apis.init_model`, or its config.
        checkpoint (str, optional): With a config: the weights.
        device (str): With a config: the device. Defaults to ``'cpu'``.
        batch_size (int): People (image models) or detections (keypoint
            models) per forward pass; images are read this many at a time.
            Defaults to 16.
        cfg_options (dict, optional): With a config: overrides.
        body_model_path (str, optional): SMPL file/folder for the faces
            when the model and config have none.
        convention (str): Joint convention of detection files (keypoint
            models). Defaults to ``'coco'``.

    Call it with ``inputs`` (see :meth:`__call__`).
    """

    def __init__(self,
                 model: Any,
                 checkpoint: Optional[str] = None,
                 device: str = 'cpu',
                 batch_size: int = 16,
                 cfg_options: Optional[dict] = None,
                 body_model_path: Optional[str] = None,
                 convention: str = 'coco') -> None:
        if isinstance(model, nn.Module):
            self.model = model
        else:
            self.model = init_model(model, checkpoint, device, cfg_options)
        if int(batch_size) < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self.batch_size = int(batch_size)
        self.kind = model_input_kind(self.model)
        self.body_model_path = body_model_path
        self.convention = convention
        self._faces: Optional[np.ndarray] = None

    @property
    def faces(self) -> np.ndarray:
        """(F, 3) int64 faces of the predicted meshes (found once)."""
        if self._faces is None:
            self._faces = find_faces(self.model, getattr(self.model, 'cfg',
                                                         None),
                                     self.body_model_path)
        return self._faces

    # ------------------------------------------------------------------ call
    def __call__(self,
                 inputs: Union[str, os.PathLike, Sequence[str]],
                 out_dir: Union[str, os.PathLike],
                 bboxes: Any = None,
                 bbox_format: str = 'xyxy',
                 save_overlay: bool = True,
                 save_mesh: Optional[str] = 'obj',
                 save_results: bool = True,
                 show_progress: bool = True) -> Dict[str, Any]:
        """Run on ``inputs`` and write the outputs to ``out_dir``.

        Args:
            inputs: An image file, a folder of images (its files with an
                :data:`IMAGE_EXTENSIONS` extension, sorted by name; other
                files are listed in ``failed``), a video file
                (:data:`VIDEO_EXTENSIONS`), a list of image files, or for
                keypoint models an MMPose predictions ``.json`` (or a
                folder of them).
            out_dir: Output folder (created).
            bboxes: Person boxes: None (the whole image / frame), one
                ``(N, 4|5)`` list for every image / frame, a dict from the
                image's path relative to the input folder (or its file
                name), or from the frame index, to its boxes (an absent
                key: the whole image; ``[]``: nobody), or the path of a
                JSON file holding either.
            bbox_format (str): ``'xyxy'`` or ``'xywh'`` (px).
            save_overlay (bool): Write ``overlays/``. Not for detection
                files (no image).
            save_mesh (str, optional): ``'obj'``, ``'ply'`` or None.
            save_results (bool): Write ``inference_result.npz``.
            show_progress (bool): MMEngine progress bar on stdout.

        Returns:
            dict: ``results`` (path of the results file or None),
            ``overlays`` and ``meshes`` (written paths), ``failed`` (list of
            ``(input, reason)`` skipped), ``num_people`` (rows) and
            ``data`` (the HumanData dict).

        Raises:
            FileNotFoundError: ``inputs`` does not exist.
            ImageReadError: A single image or video cannot be decoded.
            InferenceInputError: Bad boxes of a single image, a bad boxes
                file.
            TypeError: Inputs of the wrong kind for the model.
        """
        if save_mesh is not None and save_mesh not in _MESH_FORMATS:
            raise ValueError(f'save_mesh must be one of {_MESH_FORMATS} or '
                             f'None, got {save_mesh!r}')
        out_dir = os.fspath(out_dir)
        os.makedirs(out_dir, exist_ok=True)
        boxes = _BoxSource(bboxes)
        state = dict(rows=_Rows(), overlays=[], meshes=[], failed=[],
                     stems=set())
        opts = dict(out_dir=out_dir, boxes=boxes, bbox_format=bbox_format,
                    save_overlay=save_overlay, save_mesh=save_mesh,
                    show_progress=show_progress)
        if save_overlay or save_mesh:
            _ = self.faces  # fail before any work when there are none
        kind, items = self._classify(inputs)
        if kind == 'detections':
            self._run_detections(items, state, opts)
        elif kind == 'video':
            self._run_video(items[0], state, opts)
        else:
            self._run_images(items, kind == 'folder', state, opts)
        for name, reason in state['failed']:
            print_log(f'MeshInferencer: skipped {name}: {reason}',
                      logger='current', level=logging.WARNING)
        data = state['rows'].human_data()
        result_path = None
        if save_results:
            result_path = osp.join(out_dir, RESULT_FILE)
            write_atomic(result_path,
                         lambda tmp: save_human_data(tmp, data))
        return dict(results=result_path, overlays=state['overlays'],
                    meshes=state['meshes'], failed=state['failed'],
                    num_people=len(data['verts']), data=data)

    # ---------------------------------------------------------------- inputs
    def _classify(self, inputs) -> Tuple[str, list]:
        """``(kind, items)``: ``'image'``/``'folder'`` with (path, name,
        index) items, ``'video'`` or ``'detections'`` with a path."""
        if isinstance(inputs, (list, tuple)):
            paths = [os.fspath(p) for p in inputs]
            self._require('image', f'{len(paths)} image files')
            return 'image', [(p, osp.basename(p), i)
                             for i, p in enumerate(paths)]
        path = os.fspath(inputs)
        if not osp.exists(path):
            raise FileNotFoundError(f'input not found: {path}')
        if osp.isdir(path):
            names = sorted(f for f in os.listdir(path)
                           if not f.startswith('.')
                           and osp.isfile(osp.join(path, f)))
            if self.kind == 'keypoints':
                if not any(n.lower().endswith('.json') for n in names):
                    raise FileNotFoundError(f'no .json detection file in '
                                            f'{path}')
                return 'detections', [path]
            return 'folder', [(osp.join(path, n), n, i)
                              for i, n in enumerate(names)]
        ext = osp.splitext(path)[1].lower()
        if ext == '.json':
            self._require('keypoints', f'detection file {path}')
            return 'detections', [path]
        if ext in VIDEO_EXTENSIONS:
            self._require('image', f'video {path}')
            return 'video', [path]
        self._require('image', f'image {path}')
        return 'image', [(path, osp.basename(path), 0)]

    def _require(self, kind: str, what: str) -> None:
        if self.kind != kind:
            need = ('images or videos' if self.kind == 'image' else
                    'an MMPose predictions .json (2D keypoints)')
            raise TypeError(f'{type(self.model).__name__} reads {need}; got '
                            f'{what}')

    # ---------------------------------------------------------------- writers
    def _stem(self, name: str, state: dict) -> str:
        """A unique output name for an input file name."""
        stem, ext = osp.splitext(re.sub(r'[^A-Za-z0-9._-]', '_', name))
        if stem in state['stems']:
            stem = f'{stem}_{ext.lstrip(".")}'
        state['stems'].add(stem)
        return stem

    def _write_meshes(self, samples: Sequence[PoseDataSample], stem: str,
                      state: dict, opts: dict) -> None:
        fmt = opts['save_mesh']
        if not fmt:
            return
        folder = osp.join(opts['out_dir'], 'meshes')
        writer = write_obj if fmt == 'obj' else write_ply
        for sample in samples:
            pid = int(sample.metainfo.get('person_id',
                                          sample.metainfo.get(
                                              'instance_id', 0)))
            path = osp.join(folder, f'{stem}_{pid:02d}.{fmt}')
            writer(path, sample.pred_instances.vertices[0], self.faces)
            state['meshes'].append(path)

    def _write_overlay(self, image: np.ndarray,
                       samples: Sequence[PoseDataSample], stem: str,
                       state: dict, opts: dict) -> None:
        if not opts['save_overlay']:
            return
        path = osp.join(opts['out_dir'], 'overlays', f'{stem}.png')
        picture = draw_meshes(image, samples, self.faces)

        def writer(tmp: str) -> None:
            if not cv2.imwrite(tmp, picture):
                raise OSError(f'could not write {path}')

        write_atomic(path, writer)
        state['overlays'].append(path)

    # ----------------------------------------------------------------- images
    def _run_images(self, items: list, folder: bool, state: dict,
                    opts: dict) -> None:
        """Images, ``batch_size`` files read at a time; in a folder a bad
        file is skipped and reported."""
        bar = ProgressBar(len(items)) if opts['show_progress'] else None
        for start in range(0, len(items), self.batch_size):
            chunk = []
            for path, name, index in items[start:start + self.batch_size]:
                try:
                    if folder and osp.splitext(name)[1].lower() not in \
                            IMAGE_EXTENSIONS:
                        raise ImageReadError(
                            'not an image file (extension not in '
                            f'{IMAGE_EXTENSIONS})')
                    img, _ = load_image(path)
                    boxes = check_bboxes(
                        opts['boxes'].get(name, osp.basename(name)),
                        img.shape[:2], opts['bbox_format'], path)
                except (OSError, ValueError) as err:
                    if not folder:
                        raise
                    state['failed'].append((path, str(err)))
                    if bar is not None:
                        bar.update()
                    continue
                chunk.append((path, name, index, img,
                              np.concatenate([boxes[0], boxes[1][:, None]],
                                             axis=1)))
            if chunk:
                outs = inference_mesh(self.model, [c[3] for c in chunk],
                                      [c[4] for c in chunk], 'xyxy',
                                      self.batch_size)
                for (path, name, index, img, _), samples in zip(chunk, outs):
                    for sample in samples:
                        sample.set_metainfo(dict(img_path=path))
                        state['rows'].add(name, index,
                                          sample.metainfo['person_id'],
                                          sample)
                    stem = self._stem(name, state)
                    self._write_overlay(img, samples, stem, state, opts)
                    self._write_meshes(samples, stem, state, opts)
                    if bar is not None:
                        bar.update()
        if bar is not None:
            sys.stdout.write('\n')

    # ------------------------------------------------------------------ video
    @staticmethod
    def _frames(path: str) -> Iterator[Tuple[int, np.ndarray]]:
        cap = cv2.VideoCapture(path)
        try:
            if not cap.isOpened():
                raise ImageReadError(f'cannot read video {path!r}: OpenCV '
                                     'cannot open it')
            index = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                yield index, frame
                index += 1
            if index == 0:
                raise ImageReadError(f'cannot read video {path!r}: no frame '
                                     'decodes')
        finally:
            cap.release()

    def _video_batches(self, path: str, opts: dict, state: Optional[dict]
                       ) -> Iterator[list]:
        """Frames in order, ``batch_size`` at a time, with checked boxes
        (frames with bad boxes reported in ``state`` when given)."""
        chunk = []
        for index, frame in self._frames(path):
            try:
                xyxy, scores = check_bboxes(
                    opts['boxes'].get(index), frame.shape[:2],
                    opts['bbox_format'], f'{path} frame {index}')
                boxes = np.concatenate([xyxy, scores[:, None]], axis=1)
            except InferenceInputError as err:
                if state is not None:
                    state['failed'].append((f'{path} frame {index}',
                                            str(err)))
                boxes = None
            chunk.append((index, frame, boxes))
            if len(chunk) >= self.batch_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _run_video(self, path: str, state: dict, opts: dict) -> None:
        """Frames in order; a video lifter gets its 2D windows from a first
        pass over the video (each person's mesh-stream 2D,
        :func:`mesh_stream_keypoints`, edge-replicated at the ends)."""
        name = osp.basename(path)
        stem = self._stem(name, state)
        window = _window_spec(self.model,
                              _test_pipeline_cfg(_model_cfg(self.model))[0])
        windows = None
        if window is not None:
            windows = self._video_windows(path, opts, window)
        cap = cv2.VideoCapture(path)
        fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() \
            else 0
        cap.release()
        fps = fps if fps and np.isfinite(fps) and fps > 0 else 25.0
        bar = ProgressBar(max(total, 0)) if opts['show_progress'] else None
        writer, tmp_video = None, None
        video_path = osp.join(opts['out_dir'], 'overlays', f'{stem}.mp4')
        try:
            for chunk in self._video_batches(path, opts, state):
                good = [c for c in chunk if c[2] is not None]
                seqs = None
                if windows is not None:
                    seq_len, num = window
                    seqs = [windows.get(c[0], np.zeros(
                        (len(c[2]), seq_len, num, 2), np.float32))
                        for c in good]
                outs = inference_mesh(self.model, [c[1] for c in good],
                                      [c[2] for c in good], 'xyxy',
                                      self.batch_size, seqs) if good else []
                by_frame = {c[0]: s for c, s in zip(good, outs)}
                for index, frame, _ in chunk:
                    samples = by_frame.get(index, [])
                    for sample in samples:
                        state['rows'].add(name, index,
                                          sample.metainfo['person_id'],
                                          sample)
                    self._write_meshes(samples, f'{stem}_{index:06d}', state,
                                       opts)
                    if opts['save_overlay']:
                        if writer is None:
                            writer, tmp_video = self._open_writer(
                                video_path, fps, frame.shape[:2])
                        writer.write(draw_meshes(frame, samples, self.faces)
                                     if samples else frame)
                    if bar is not None:
                        bar.update()
        finally:
            if writer is not None:
                writer.release()
        if tmp_video is not None:
            os.replace(tmp_video, video_path)
            state['overlays'].append(video_path)
        if bar is not None:
            sys.stdout.write('\n')

    @staticmethod
    def _open_writer(path: str, fps: float,
                     shape: Tuple[int, int]) -> Tuple[cv2.VideoWriter, str]:
        folder = osp.dirname(path)
        os.makedirs(folder, exist_ok=True)
        tmp = osp.join(folder, f'.tmp-{os.getpid()}-{osp.basename(path)}')
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                                 (int(shape[1]), int(shape[0])))
        if not writer.isOpened():
            raise OSError(f'cannot write video {path} (OpenCV mp4v)')
        return writer, tmp

    def _video_windows(self, path: str, opts: dict,
                       window: Tuple[int, int]) -> Dict[int, np.ndarray]:
        """First pass of a video lifter: per frame, ``(N, T, K, 2)``
        windows of each box's person track (box order = track)."""
        seq_len, num = window
        frame_ids, person_ids, keypoints = [], [], []
        for chunk in self._video_batches(path, opts, None):
            good = [c for c in chunk if c[2] is not None]
            if not good:
                continue
            empty = [np.zeros((len(c[2]), seq_len, num, 2), np.float32)
                     for c in good]
            outs = inference_mesh(self.model, [c[1] for c in good],
                                  [c[2] for c in good], 'xyxy',
                                  self.batch_size, empty)
            for (index, _, _), samples in zip(good, outs):
                kp = mesh_stream_keypoints(self.model, samples)
                for sample, k in zip(samples, kp):
                    frame_ids.append(index)
                    person_ids.append(sample.metainfo['person_id'])
                    keypoints.append(k)
        if not keypoints:
            return {}
        frame_ids = np.asarray(frame_ids, np.int64)
        person_ids = np.asarray(person_ids, np.int64)
        wins = track_windows(person_ids, frame_ids, np.stack(keypoints),
                             seq_len)
        out: Dict[int, List[np.ndarray]] = {}
        for f, w in zip(frame_ids, wins):
            out.setdefault(int(f), []).append(w)
        return {f: np.stack(ws) for f, ws in out.items()}

    # ------------------------------------------------------------- keypoints
    def _run_detections(self, items: list, state: dict, opts: dict) -> None:
        """An MMPose predictions file (or folder): no image, no overlay."""
        samples = inference_keypoints(self.model, items[0],
                                      convention=self.convention,
                                      batch_size=self.batch_size)
        bar = ProgressBar(len(samples)) if opts['show_progress'] else None
        for sample in samples:
            meta = sample.metainfo
            source = str(meta.get('source', ''))
            state['rows'].add(source, meta.get('frame_id', 0),
                              meta.get('instance_id', 0), sample)
            stem = self._stem(f'{source}_{meta.get("frame_id", 0):06d}',
                              state)
            self._write_meshes([sample], stem, state, opts)
            if bar is not None:
                bar.update()
        if bar is not None:
            sys.stdout.write('\n')
