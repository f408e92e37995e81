"""Tests for ``decode_heatmap_keypoints`` (argmax + quarter-pixel shift)."""
import pytest
import torch
import torch.nn.functional as F

from mpt_plugin.models.utils.decode_heatmap_keypoints import \
    decode_heatmap_keypoints


def _maps():
    """(2, 2, 8, 8) maps with hand-placed peaks and neighbours."""
    maps = torch.zeros(2, 2, 8, 8)
    # sample 0, joint 0: peak (x=3, y=5); right > left, up > down
    maps[0, 0, 5, 3] = 0.9
    maps[0, 0, 5, 4], maps[0, 0, 5, 2] = 0.5, 0.2
    maps[0, 0, 4, 3], maps[0, 0, 6, 3] = 0.3, 0.1
    # sample 0, joint 1: peak on the left border (x=0, y=2); down > up
    maps[0, 1, 2, 0] = 0.4
    maps[0, 1, 2, 1] = 0.3
    maps[0, 1, 3, 0], maps[0, 1, 1, 0] = 0.2, 0.1
    # sample 1, joint 0: peak at the last column/row (x=7, y=7)
    maps[1, 0, 7, 7] = 0.05
    maps[1, 0, 7, 6] = 0.04
    # sample 1, joint 1: equal neighbours (no shift), negative peak
    maps[1, 1] = -1.0
    maps[1, 1, 4, 4] = -0.2
    maps[1, 1, 4, 3] = maps[1, 1, 4, 5] = -0.5
    maps[1, 1, 3, 4] = maps[1, 1, 5, 4] = -0.5
    return maps


def test_argmax_quarter_pixel_shift_and_scores():
    kp, scores = decode_heatmap_keypoints(_maps())
    expected = torch.tensor([[[3.25, 4.75], [0.0, 2.25]],
                             [[7.0, 7.0], [4.0, 4.0]]])
    torch.testing.assert_close(kp, expected)
    torch.testing.assert_close(
        scores, torch.tensor([[0.9, 0.4], [0.05, -0.2]]))
    assert kp.dtype == scores.dtype == torch.float32
    assert not kp.requires_grad


def test_heatmap_to_image_pixels():
    maps = _maps()
    kp, _ = decode_heatmap_keypoints(maps, image_size=(16, 32))
    # align_corners=False: x_img = (x + 0.5) * 32 / 8 - 0.5, y * 16 / 8
    assert kp[0, 0].tolist() == [(3.25 + 0.5) * 4 - 0.5,
                                 (4.75 + 0.5) * 2 - 0.5]
    kp_ac, _ = decode_heatmap_keypoints(maps, image_size=(16, 32),
                                        align_corners=True)
    torch.testing.assert_close(
        kp_ac[0, 0], torch.tensor([3.25 * 31 / 7, 4.75 * 15 / 7]))
    same, _ = decode_heatmap_keypoints(maps, image_size=(8, 8))
    assert torch.equal(same, decode_heatmap_keypoints(maps)[0])


@pytest.mark.parametrize('centre', [(10.3, 20.6), (17.8, 5.1)])
def test_recovers_a_blob_through_a_bilinear_resize(centre):
    """A Gaussian at a sub-pixel image location, resized to a coarser map
    the way the backbone resizes (align_corners=False), decodes back to
    within half a map pixel (one image pixel at stride 2)."""
    ys, xs = torch.meshgrid(torch.arange(32.), torch.arange(32.),
                            indexing='ij')
    blob = torch.exp(-((xs - centre[0])**2 + (ys - centre[1])**2) / 8.0)
    coarse = F.interpolate(blob[None, None], size=(16, 16), mode='bilinear',
                           align_corners=False)
    kp, score = decode_heatmap_keypoints(coarse, image_size=(32, 32))
    err = (kp[0, 0] - torch.tensor(centre)).abs()
    assert (err <= 1.0).all(), (kp, centre)
    assert 0.5 < score.item() <= 1.0


def test_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r'must be \(B, K, H, W\), got '
                       r'\(17, 8, 8\)'):
        decode_heatmap_keypoints(torch.zeros(17, 8, 8))
