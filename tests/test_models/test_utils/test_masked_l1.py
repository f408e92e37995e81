"""masked_l1: the one masked L1 (MPT, Key2Mesh, PC-HMR reductions)."""
import pytest
import torch

from mpt_plugin.models.utils.masked_l1 import masked_l1


def _data():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(4, 5, 3, generator=g, requires_grad=True)
    target = torch.randn(4, 5, 3, generator=g)
    weight = torch.rand(4, 5, generator=g)
    weight[1] = 0  # an invalid sample
    weight[2, :2] = 0  # masked points
    return pred, target, weight


def test_normalizations_match_their_formulas():
    pred, target, weight = _data()
    d = (pred - target).abs()
    valid = torch.tensor([True, False, True, True])
    # MPT / LGD 'mean': masked points stay in the denominator
    want = (d.mean(-1) * weight).sum() / (3 * 5)
    got = masked_l1(pred, target, weight, 'samples', sample_valid=valid)
    assert torch.allclose(got, want)
    assert torch.allclose(masked_l1(pred, target, weight, 'samples'), want)
    want_sum = (d.sum(-1) * weight).sum() / (3 * 5)
    assert torch.allclose(
        masked_l1(pred, target, weight, coord_reduction='sum'), want_sum)
    # weight-normalised (Key2Mesh 'weight_normalized', PC-HMR)
    want_w = (d * weight[..., None]).sum() / (3 * weight.sum())
    assert torch.allclose(masked_l1(pred, target, weight, 'weights'),
                          want_w)
    # per-sample (B,) weights broadcast over the points
    flags = torch.tensor([1.0, 0.0, 1.0, 1.0])
    assert torch.allclose(
        masked_l1(pred, target, flags, 'weights'),
        d[flags > 0].mean())


def test_ignored_targets_may_be_nan_and_all_ignored_gives_zero():
    pred, target, weight = _data()
    target = target.clone()
    target[1] = float('nan')
    target[2, :2] = float('inf')
    for mode in ('samples', 'weights'):
        loss = masked_l1(pred, target, weight, mode)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
        assert torch.all(pred.grad[1] == 0)
        pred.grad = None
        zero = masked_l1(pred, target, torch.zeros(4, 5), mode)
        assert float(zero) == 0.0 and zero.requires_grad


def test_bad_arguments():
    pred, target, weight = _data()
    with pytest.raises(ValueError, match='normalize'):
        masked_l1(pred, target, weight, 'points')
    with pytest.raises(ValueError, match='coord_reduction'):
        masked_l1(pred, target, weight, coord_reduction='max')
