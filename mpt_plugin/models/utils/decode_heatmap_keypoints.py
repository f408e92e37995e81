"""Heatmaps -> keypoint detections (argmax + quarter-pixel refinement).

Used by :class:`MPTFinetuneEstimator` to turn the frozen pose network's
pose feature maps into the 2D detections the domain-adaptation
re-projection loss compares against (no 2D label is read).

Decoding, per heatmap (as MMPose's ``MSRAHeatmap`` / 0.x
``keypoints_from_heatmaps(post_process='default')``):

1. the integer location ``(x, y)`` of the maximum; confidence = the peak
   value (not clipped; a map whose peak is <= 0 gives a confidence <= 0);
2. a shift of 0.25 px along each axis toward the higher of the two
   neighbours, ``sign(h[y, x + 1] - h[y, x - 1]) / 4`` (0 on a tie). The
   shift along an axis is applied where both neighbours exist
   (``0 < x < W - 1``); MMPose 1.x's ``refine_keypoints`` also skips the
   second column/row (``1 < x``), a border case we do not copy;
3. heatmap pixels -> image pixels (pixel centres at integers in both
   frames): with ``align_corners=False`` (how the maps were resized,
   :class:`MPTHRNetPoseFeatureMaps`) a map of width ``W`` spans an image of
   width ``W_img`` edge to edge, ``x_img = (x + 0.5) * W_img / W - 0.5``;
   with ``align_corners=True`` the corner pixel centres coincide,
   ``x_img = x * (W_img - 1) / (W - 1)``.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

__all__ = ['decode_heatmap_keypoints']


def _to_image(coord: Tensor, map_size: int, image_size: int,
              align_corners: bool) -> Tensor:
    if map_size == image_size:
        return coord
    if align_corners:
        if map_size == 1:
            return coord * 0.0 + (image_size - 1) / 2.0
        return coord * ((image_size - 1) / (map_size - 1))
    return (coord + 0.5) * (image_size / map_size) - 0.5


@torch.no_grad()
def decode_heatmap_keypoints(heatmaps: Tensor,
                             image_size: Optional[Sequence[int]] = None,
                             align_corners: bool = False
                             ) -> Tuple[Tensor, Tensor]:
    """Decode per-joint heatmaps into keypoints and confidences.

    Args:
        heatmaps (Tensor): ``(B, K, H, W)`` heatmaps (any float dtype).
        image_size (Sequence[int], optional): ``(H_img, W_img)`` of the image
            the maps cover (e.g. the input crop), the frame of the returned
            keypoints. Defaults to None: the heatmap frame.
        align_corners (bool): How the maps relate to the image (see the
            module doc). Defaults to False.

    Returns:
        Tuple[Tensor, Tensor]: ``keypoints`` ``(B, K, 2)`` float32 ``(x,
        y)`` pixels of the image (pixel centres at integers) and ``scores``
        ``(B, K)`` float32 peak values. No gradient.
    """
    if heatmaps.dim() != 4:
        raise ValueError('decode_heatmap_keypoints: heatmaps must be (B, K, '
                         f'H, W), got {tuple(heatmaps.shape)}')
    height, width = heatmaps.shape[-2:]
    if height < 1 or width < 1:
        raise ValueError('decode_heatmap_keypoints: empty heatmaps '
                         f'{tuple(heatmaps.shape)}')
    maps = heatmaps.detach().float()
    flat = maps.flatten(2)  # (B, K, H * W)
    scores, index = flat.max(dim=2)
    y = torch.div(index, width, rounding_mode='floor')
    x = index - y * width

    def value(yy: Tensor, xx: Tensor) -> Tensor:
        return flat.gather(2, (yy * width + xx)[..., None])[..., 0]

    inner_x = (x > 0) & (x < width - 1)
    inner_y = (y > 0) & (y < height - 1)
    dx = value(y, (x + 1).clamp(max=width - 1)) - \
        value(y, (x - 1).clamp(min=0))
    dy = value((y + 1).clamp(max=height - 1), x) - \
        value((y - 1).clamp(min=0), x)
    kx = x.float() + torch.where(inner_x, torch.sign(dx), 0.0) * 0.25
    ky = y.float() + torch.where(inner_y, torch.sign(dy), 0.0) * 0.25
    if image_size is not None:
        img_h, img_w = (int(s) for s in image_size)
        kx = _to_image(kx, width, img_w, align_corners)
        ky = _to_image(ky, height, img_h, align_corners)
    return torch.stack((kx, ky), dim=-1), scores
