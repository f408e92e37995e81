"""Random 2D joints shared by the MHM and MoCap data preprocessor tests."""
import torch

K = 17


def random_joints(batch, seed=0, invisible=0):
    """(B, K, 2) joints in pixels, uniform in [12, 212), and (B, K) weights:
    1, and 0 for the first ``invisible`` joints of every sample."""
    gen = torch.Generator().manual_seed(seed)
    joints = torch.rand(batch, K, 2, generator=gen) * 200 + 12
    weights = torch.ones(batch, K)
    if invisible:
        weights[:, :invisible] = 0
    return joints, weights
