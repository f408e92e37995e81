"""MPTPackMeshSequenceInputs: the packed sample holds the aligned window."""
import numpy as np
import torch

from mpt_plugin.datasets.transforms import (MPTMeshAffine,
                                            MPTMeshSequenceAlign,
                                            MPTPackMeshSequenceInputs)
from .sequence_samples import H, W, sequence_results


def test_pack_adds_the_window():
    results, _ = sequence_results(seq_len=7)
    results = MPTMeshAffine(input_size=32)(results)
    results = MPTMeshSequenceAlign()(results)
    packed = MPTPackMeshSequenceInputs()(results)
    sample = packed['data_samples']
    gt = sample.gt_instances
    assert gt.keypoints2d_seq.shape == (1, 7, 17, 2)
    assert gt.keypoints2d_seq.dtype == torch.float32
    assert gt.keypoints2d_seq_visible.shape == (1, 7, 17)
    assert gt.seq_frame_ids.tolist() == [[1, 6, 11, 16, 21, 26, 31]]
    assert gt.keypoints3d.shape == (1, 17, 3)  # the parent's fields stay
    assert sample.metainfo['ori_shape'] == (H, W)
    assert sample.metainfo['sequence_name'].endswith('54138969')
    np.testing.assert_array_equal(sample.metainfo['crop_affine'],
                                  results['crop_affine'])
