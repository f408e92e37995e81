"""Mesh regression transformer of MPT (paper Sec. 3.1, 3.4, appendix E).

A METRO / Mesh Graphormer style encoder without graph convolution:

Tokens (``N = J + V0 + P``, in this order):
    - ``J`` joint queries (14, LSP order) and ``V0`` coarse-vertex queries
      (431): each is ``concat(template_xyz (3), global_feature (D0))``
      projected by ``query_proj`` to the block-1 input dim ``D0``. The
      template (rest-pose joints / coarse vertices, pelvis-centred metres)
      lives in buffers set by :meth:`init_template`. What stands in for
      METRO's image feature is ``global_feature``. ``'flatten'`` (default;
      a deviation from both papers, the one shown to learn in our CPU runs)
      reduces every patch token to a few channels, flattens them in patch
      order and projects them to one position-aware vector shared by all
      queries. ``'token_mix'`` is what METRO's *released* body network does
      with its 2048 x 7 x 7 HRNet map: ``Conv1d(49, 445, 1)`` gives every
      query its own learned linear mix of the grid cells; here the grid
      cells are the ``P`` heatmap patch tokens, so ``Conv1d(P, J + V0, 1)``
      (the METRO paper's text instead concatenates one pooled global
      feature to every query). ``'mean'`` (the mean patch token) carries
      almost no pose, because the mean of the tokens does not depend on
      where the blobs are: with it the transformer only learnt the mean
      pose. ``'none'`` uses the xyz alone.
    - ``P`` heatmap patch tokens: ``HeatmapPatchEmbed`` (the first Linear of
      the paper's "MLP to the hidden size", 8x8xC -> E) followed by
      ``GELU + Linear(E, D0)`` in this file. 224 / 8 -> 784 patches.

Three encoder blocks (paper: 4 layers, 4 heads each; hidden 1024/256/64),
each as Graphormer's block ``i``::

    h = Dropout(Linear(D_in, H)(x) + pos_embed)      # learned positions
    h = layers(h)                                    # L x transformer layer
    out = Linear(H, D_out)(h) + Linear(D_in, D_out)(x)  # linear reduction

with ``D_in`` = ``embed_dims`` = (1024, 512, 128) and ``D_out`` =
``embed_dims[1:] + (3,)`` = (512, 128, 3): the last block outputs xyz per
token. Layers are post-LN BERT layers by default (``norm_first=False``, as
in the Graphormer code the paper uses) with an FFN of ``ffn_ratio * H``
(Graphormer's ``interm_size_scale=2`` -> 2048/512/128), GELU, dropout 0.1
on hidden states and attention probabilities, LayerNorm eps 1e-12 and
N(0, 0.02) init. ``norm_first=True`` gives pre-LN layers (plus a final
LayerNorm per block), which are easier to train at high learning rates.
Attention runs through ``F.scaled_dot_product_attention``.

Outputs: joint tokens -> ``joints`` (B, J, 3); vertex tokens ->
``vertices_coarse`` (B, V0, 3); Linear layers along the vertex axis
(shared by x, y, z) upsample V0 -> V1 -> V2 (431 -> 1723 -> 6890 for SMPL),
optionally initialised from the mesh sampler's U matrices
(:meth:`init_upsampling`). Hands (MANO) have two levels: ``num_vertices =
(195, 778)`` with one learned ``Linear(195, 778)``, as the released hand
network; then there is no ``vertices_mid``.
Camera as in METRO: ``Linear(3, 1)`` per coarse vertex -> ``Linear(V0, 250)``
-> ``Linear(250, 3)`` -> ``(s, tx, ty)``. By default ``s`` goes through a
shifted softplus so it is positive and equals ``camera_scale_init`` (1.0,
about the scale of a body filling a [-1, 1] crop) at initialisation: a
negative ``s`` mirrors the projection, which fits 2D-only samples equally
well with a 180-degree-rotated body, and the renderer needs
``tz = 2f / (res * s) > 0``. ``camera_scale_act='none'`` reproduces METRO.

Masked Vertex Modeling (training only, ``mvm_ratio > 0``): per sample,
``floor(u * mvm_ratio * n)`` (u ~ U(0, 1)) joint queries and, separately,
vertex queries are replaced by the constant ``mvm_value`` (0.01) before
``query_proj``, as in METRO's dataset code. Patch tokens are never masked.

Coordinate frame: predictions live in the frame of the GT (metres,
pelvis-centred); for the weak-perspective projection to match the image,
x must point right and y down in the crop (camera-aligned axes), and the
template given to :meth:`init_template` should be in that frame (METRO
rotates the SMPL rest pose by 180 degrees about x for this).

Shapes: ``B`` batch, ``C`` heatmap channels (17 COCO joints), ``K`` input
joints, ``J`` output joints, ``V0/V1/V2`` vertices per mesh level, ``P``
patches, ``N`` tokens.
"""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mpt_plugin.registry import MODELS
from ..losses.mesh_loss import MPTMeshLoss  # noqa: F401 (registers it)
from ..utils.heatmap_patch_embed import HeatmapPatchEmbed

ArrayLike = Union[np.ndarray, Tensor]

#: What stands in for METRO's image feature next to each query's xyz
#: (see ``MPTMeshTransformerHead``'s ``global_feature``).
GLOBAL_FEATURES = ('flatten', 'token_mix', 'mean', 'none')

#: The paper's dimensions (appendix E + Graphormer defaults); these are also
#: the constructor defaults.
PAPER_DIMS = dict(
    in_channels=17,
    input_size=224,
    patch_size=8,
    num_joints=14,
    num_vertices=(431, 1723, 6890),
    embed_dims=(1024, 512, 128),
    hidden_dims=(1024, 256, 64),
    num_layers=(4, 4, 4),
    num_heads=(4, 4, 4),
    ffn_ratio=2.0)

#: The hand variant's dimensions (METRO / Mesh Graphormer hand code:
#: 21 joint + 195 vertex queries, 778 output vertices; 21 hand heatmaps).
HAND_PAPER_DIMS = dict(PAPER_DIMS, in_channels=21, num_joints=21,
                       num_vertices=(195, 778))


def _to_tuple(value: Union[int, Sequence[int]], n: int,
              name: str) -> Tuple[int, ...]:
    if isinstance(value, int):
        return (value, ) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f'{name} must have {n} values (one per block), '
                         f'got {value}')
    return value


def _to_float_tensor(value, name: str) -> Tensor:
    if hasattr(value, 'toarray'):  # scipy sparse
        value = value.toarray()
    if isinstance(value, Tensor):
        t = value.detach()
        if t.is_sparse:
            t = t.to_dense()
    else:
        t = torch.as_tensor(np.asarray(value))
    t = t.float()
    if not torch.isfinite(t).all():
        raise ValueError(f'{name} has non-finite values')
    return t


class MPTTransformerLayer(nn.Module):
    """A BERT-style transformer layer (MHSA + FFN), post- or pre-LN.

    Args:
        dim (int): hidden size H.
        num_heads (int): attention heads (H must be divisible by it).
        ffn_dim (int): FFN intermediate size.
        drop_rate (float): dropout on the attention / FFN outputs.
        attn_drop_rate (float): dropout on the attention probabilities.
        norm_first (bool): pre-LN if True, post-LN (BERT) otherwise.
        layer_norm_eps (float): LayerNorm epsilon.
    """

    def __init__(self, dim: int, num_heads: int, ffn_dim: int,
                 drop_rate: float, attn_drop_rate: float, norm_first: bool,
                 layer_norm_eps: float):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'hidden size {dim} is not divisible by '
                             f'{num_heads} heads')
        self.num_heads = num_heads
        self.attn_drop_rate = attn_drop_rate
        self.norm_first = norm_first
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attn_out = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.ffn_in = nn.Linear(dim, ffn_dim)
        self.act = nn.GELU()
        self.ffn_out = nn.Linear(ffn_dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.drop = nn.Dropout(drop_rate)

    def _attention(self, x: Tensor) -> Tensor:
        bsz, num, dim = x.shape
        qkv = self.qkv(x).view(bsz, num, 3, self.num_heads,
                               dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, h, N, d)
        out = F.scaled_dot_product_attention(
            q, k, v,
            dropout_p=self.attn_drop_rate if self.training else 0.0)
        out = out.transpose(1, 2).reshape(bsz, num, dim)
        return self.drop(self.attn_out(out))

    def _ffn(self, x: Tensor) -> Tensor:
        return self.drop(self.ffn_out(self.act(self.ffn_in(x))))

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, H) -> (B, N, H)."""
        if self.norm_first:
            x = x + self._attention(self.norm1(x))
            return x + self._ffn(self.norm2(x))
        x = self.norm1(x + self._attention(x))
        return self.norm2(x + self._ffn(x))


class MPTEncoderBlock(nn.Module):
    """One Graphormer-style block with a linear dimension reduction.

    ``out = Linear(H, D_out)(layers(embed(x) + pos)) + Linear(D_in, D_out)(x)``

    Args:
        in_dim (int): D_in. hidden_dim (int): H. out_dim (int): D_out.
        num_layers (int): transformer layers. num_heads (int): heads.
        num_tokens (int): N, size of the learned position table.
        ffn_ratio (float): FFN size / H.
        drop_rate, attn_drop_rate (float): dropout rates.
        norm_first (bool): pre-LN layers (adds a final LayerNorm).
        layer_norm_eps (float): LayerNorm epsilon.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int,
                 num_layers: int, num_heads: int, num_tokens: int,
                 ffn_ratio: float, drop_rate: float, attn_drop_rate: float,
                 norm_first: bool, layer_norm_eps: float):
        super().__init__()
        self.embed = nn.Linear(in_dim, hidden_dim)
        self.pos_embed = nn.Parameter(torch.zeros(num_tokens, hidden_dim))
        self.embed_drop = nn.Dropout(drop_rate)
        ffn_dim = int(round(hidden_dim * ffn_ratio))
        self.layers = nn.ModuleList([
            MPTTransformerLayer(hidden_dim, num_heads, ffn_dim, drop_rate,
                                attn_drop_rate, norm_first, layer_norm_eps)
            for _ in range(num_layers)
        ])
        self.final_norm = (nn.LayerNorm(hidden_dim, eps=layer_norm_eps)
                           if norm_first else nn.Identity())
        self.out_proj = nn.Linear(hidden_dim, out_dim)
        self.residual = nn.Linear(in_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, D_in) -> (B, N, D_out)."""
        if x.shape[1] != self.pos_embed.shape[0]:
            raise ValueError(f'block expects {self.pos_embed.shape[0]} '
                             f'tokens, got {x.shape[1]}')
        h = self.embed_drop(self.embed(x) + self.pos_embed)
        for layer in self.layers:
            h = layer(h)
        return self.out_proj(self.final_norm(h)) + self.residual(x)


class MPTTokenEncoder(nn.Module):
    """Heatmaps or joints -> patch tokens: ``HeatmapPatchEmbed`` + MLP.

    Sparse input ``dict(joints_px=(B, K, 2), joint_weights=(B, K))`` (+
    optional ``pixel_noise``) synthesises the Gaussian heatmap tokens
    without dense maps (pre-training); dense maps ``(B, C, H, W)`` (or a
    sequence whose last item is used, or ``dict(heatmaps=...)``) are
    resized bilinearly to ``input_size`` and embedded (fine-tuning). Both
    paths share the same weights.

    Args:
        patch_embed (HeatmapPatchEmbed): The patch embedding.
        patch_mlp (nn.Module): GELU + Linear (+ optional LayerNorm).
        in_channels (int): Heatmap channels C.
        input_size (int): Heatmap side in pixels.
    """

    def __init__(self, patch_embed: nn.Module, patch_mlp: nn.Module,
                 in_channels: int, input_size: int) -> None:
        super().__init__()
        self.patch_embed = patch_embed
        self.patch_mlp = patch_mlp
        self.in_channels = in_channels
        self.input_size = input_size

    def forward(self, x: Union[Dict[str, Tensor], Tensor,
                               Sequence[Tensor]]) -> Tensor:
        """Returns the patch tokens (B, P, D0)."""
        if isinstance(x, dict) and 'heatmaps' in x:
            x = x['heatmaps']
        if isinstance(x, dict):
            if 'joints_px' not in x:
                raise KeyError("input dict must hold 'heatmaps' (B, C, H, W) "
                               "or 'joints_px' (B, K, 2) (+ optional "
                               "'joint_weights' (B, K), 'pixel_noise'); got "
                               f'keys {sorted(x)}')
            joints_px = x['joints_px']
            if joints_px.dim() != 3 or joints_px.shape[-1] != 2:
                raise ValueError("'joints_px' must have shape (B, K, 2), got "
                                 f'{tuple(joints_px.shape)}')
            weights = x.get('joint_weights')
            if weights is None:
                weights = joints_px.new_ones(joints_px.shape[:2])
            tokens = self.patch_embed.forward_joints(
                joints_px, weights, pixel_noise=x.get('pixel_noise'))
        else:
            if isinstance(x, (list, tuple)):
                if len(x) == 0:
                    raise ValueError('empty feature tuple')
                x = x[-1]
            if not isinstance(x, Tensor) or x.dim() != 4:
                raise ValueError('maps input must be a (B, C, H, W) tensor, '
                                 f'got {type(x).__name__} '
                                 f'{tuple(getattr(x, "shape", ()))}')
            if x.shape[1] != self.in_channels:
                raise ValueError(f'maps must have {self.in_channels} '
                                 f'channels, got {x.shape[1]}')
            if x.shape[-2:] != (self.input_size, self.input_size):
                x = F.interpolate(
                    x, size=(self.input_size, self.input_size),
                    mode='bilinear', align_corners=False)
            tokens = self.patch_embed(x)
        return self.patch_mlp(tokens)



@MODELS.register_module()
class MPTMeshTransformerHead(BaseModule):
    """MPT mesh regression transformer head.

    Args:
        in_channels (int): heatmap channels C. Defaults to 17 (COCO).
        input_size (int): side of the (square) heatmap input in pixels;
            224 -> 784 patches, 112 -> 196. Defaults to 224.
        patch_size (int): patch side. Defaults to 8.
        patch_embed_dim (int, optional): output size E of the
            ``HeatmapPatchEmbed`` linear layer. Defaults to
            ``hidden_dims[0]``.
        sigma (float): Gaussian sigma (pixels) of the sparse-path heatmaps.
        num_joints (int): joint queries J. Defaults to 14 (LSP order).
        num_vertices (Sequence[int]): (V0, V1, V2) coarse, mid, full vertex
            counts, or (V0, V1) coarse and full (one upsampling layer;
            MANO: (195, 778)). Defaults to (431, 1723, 6890).
        embed_dims (Sequence[int]): input dims of the 3 blocks; the output
            dims are ``embed_dims[1:] + (3,)``. Defaults to (1024, 512, 128).
        hidden_dims (Sequence[int]): hidden sizes. Defaults to
            (1024, 256, 64).
        num_layers (int | Sequence[int]): layers per block. Defaults to 4.
        num_heads (int | Sequence[int]): heads per block. Defaults to 4.
        ffn_ratio (float): FFN size / hidden size. Defaults to 2.0.
        drop_rate (float): hidden dropout. Defaults to 0.1.
        attn_drop_rate (float): attention dropout. Defaults to 0.1.
        norm_first (bool): pre-LN instead of post-LN. Defaults to False.
        layer_norm_eps (float): LayerNorm eps. Defaults to 1e-12 (BERT).
        global_feature (str): what is concatenated to each query next to its
            template xyz: ``'flatten'`` (a deviation from both papers:
            every patch token reduced to ``global_reduce_dim`` channels,
            flattened in patch order, projected to D0 and LayerNorm-ed; one
            vector shared by all queries), ``'token_mix'`` (METRO's released
            network: query ``q`` gets ``sum_p W[q, p] * patch_p + b[q]``, a
            learned ``Conv1d(P, J + V0, 1)`` over the patch axis;
            position-aware and different per query), ``'mean'`` (the mean
            patch token; it does not depend on where the heatmap blobs are,
            so a model built on it ignores its input) or ``'none'``.
            Defaults to ``'flatten'``, the one measured to learn on the demo
            schedule; ``'token_mix'`` is not yet measured against it
            (``tools/benchmark/bench_mpt_pretrain_learning.py --variant``).
        global_reduce_dim (int): channels per patch for ``'flatten'``.
            Defaults to 4.
        patch_norm (bool): LayerNorm on the patch tokens, so sparse heatmap
            tokens enter block 1 at unit scale instead of ~1e-3 (with the
            default initialisation, content is otherwise buried under the
            position embeddings). Defaults to False.
        mvm_ratio (float): max fraction of masked queries in training.
            Defaults to 0.3; 0 disables MVM.
        mvm_value (float): constant for masked queries. Defaults to 0.01.
        camera_hidden (int): hidden size of the camera MLP. Defaults to 250.
        camera_scale_act (str): ``'softplus'``, ``'exp'`` or ``'none'``.
        camera_scale_init (float): scale s at zero camera output (for
            ``softplus`` / ``exp``). Defaults to 1.0.
        freeze_upsampling (bool): make the upsampling layers untrainable.
        loss (dict): config of the loss module. Defaults to
            ``dict(type='MPTMeshLoss')``.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 in_channels: int = 17,
                 input_size: int = 224,
                 patch_size: int = 8,
                 patch_embed_dim: Optional[int] = None,
                 sigma: float = 3.0,
                 num_joints: int = 14,
                 num_vertices: Sequence[int] = (431, 1723, 6890),
                 embed_dims: Sequence[int] = (1024, 512, 128),
                 hidden_dims: Sequence[int] = (1024, 256, 64),
                 num_layers: Union[int, Sequence[int]] = 4,
                 num_heads: Union[int, Sequence[int]] = 4,
                 ffn_ratio: float = 2.0,
                 drop_rate: float = 0.1,
                 attn_drop_rate: float = 0.1,
                 norm_first: bool = False,
                 layer_norm_eps: float = 1e-12,
                 global_feature: str = 'flatten',
                 global_reduce_dim: int = 4,
                 patch_norm: bool = False,
                 mvm_ratio: float = 0.3,
                 mvm_value: float = 0.01,
                 camera_hidden: int = 250,
                 camera_scale_act: str = 'softplus',
                 camera_scale_init: float = 1.0,
                 freeze_upsampling: bool = False,
                 loss: Optional[dict] = dict(type='MPTMeshLoss'),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if input_size % patch_size != 0:
            raise ValueError(f'input_size {input_size} is not a multiple of '
                             f'patch_size {patch_size}')
        num_vertices = tuple(int(v) for v in num_vertices)
        if len(num_vertices) not in (2, 3) or min(num_vertices) < 1:
            raise ValueError('num_vertices must be (coarse, mid, full) or '
                             f'(coarse, full) counts, got {num_vertices}')
        embed_dims = _to_tuple(embed_dims, 3, 'embed_dims')
        hidden_dims = _to_tuple(hidden_dims, 3, 'hidden_dims')
        num_layers = _to_tuple(num_layers, 3, 'num_layers')
        num_heads = _to_tuple(num_heads, 3, 'num_heads')
        if global_feature not in GLOBAL_FEATURES:
            raise ValueError(f'global_feature must be one of '
                             f'{GLOBAL_FEATURES}, got {global_feature!r}')
        if camera_scale_act not in ('softplus', 'exp', 'none'):
            raise ValueError("camera_scale_act must be 'softplus', 'exp' or "
                             f"'none', got {camera_scale_act!r}")
        if camera_scale_act != 'none' and camera_scale_init <= 0:
            raise ValueError('camera_scale_init must be > 0, got '
                             f'{camera_scale_init}')
        if not 0.0 <= mvm_ratio <= 1.0:
            raise ValueError(f'mvm_ratio must be in [0, 1], got {mvm_ratio}')

        self.in_channels = in_channels
        self.input_size = input_size
        self.patch_size = patch_size
        self.num_patches = (input_size // patch_size)**2
        self.num_joints = num_joints
        self.num_vertices = num_vertices
        self.num_queries = num_joints + num_vertices[0]
        self.num_tokens = self.num_queries + self.num_patches
        self.embed_dims = embed_dims
        self.out_dims = embed_dims[1:] + (3, )
        self.hidden_dims = hidden_dims
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.ffn_ratio = ffn_ratio
        self.norm_first = norm_first
        self.global_feature = global_feature
        self.mvm_ratio = mvm_ratio
        self.mvm_value = mvm_value
        self.camera_scale_act = camera_scale_act
        self.camera_scale_init = camera_scale_init
        self.patch_embed_dim = patch_embed_dim or hidden_dims[0]

        # Heatmap patch tokens: (8*8*C -> E) linear, then GELU + Linear.
        self.patch_embed = HeatmapPatchEmbed(
            in_channels=in_channels,
            input_size=input_size,
            patch_size=patch_size,
            embed_dim=self.patch_embed_dim,
            sigma=sigma)
        self.patch_mlp = nn.Sequential(
            nn.GELU(), nn.Linear(self.patch_embed_dim, embed_dims[0]))
        if patch_norm:
            self.patch_mlp.append(
                nn.LayerNorm(embed_dims[0], eps=layer_norm_eps))
        if global_feature == 'flatten':
            self.global_reduce = nn.Linear(embed_dims[0], global_reduce_dim)
            self.global_proj = nn.Sequential(
                nn.Linear(self.num_patches * global_reduce_dim,
                          embed_dims[0]),
                nn.LayerNorm(embed_dims[0], eps=layer_norm_eps))
        elif global_feature == 'token_mix':
            # METRO's conv_learn_tokens: one learned mix of the grid cells
            # (here: patch tokens) per query, Conv1d(P, Q, kernel 1)
            self.token_mix = nn.Conv1d(self.num_patches, self.num_queries, 1)

        # Queries: template xyz (+ global feature) -> D0.
        query_in = 3 + (embed_dims[0] if global_feature != 'none' else 0)
        self.query_proj = nn.Linear(query_in, embed_dims[0])
        self.register_buffer('template_joints', torch.zeros(num_joints, 3))
        self.register_buffer('template_vertices',
                             torch.zeros(num_vertices[0], 3))
        self.register_buffer('template_initialized',
                             torch.zeros((), dtype=torch.bool))

        self.blocks = nn.ModuleList([
            MPTEncoderBlock(embed_dims[i], hidden_dims[i], self.out_dims[i],
                            num_layers[i], num_heads[i], self.num_tokens,
                            ffn_ratio, drop_rate, attn_drop_rate, norm_first,
                            layer_norm_eps) for i in range(3)
        ])

        # METRO camera head on the coarse vertices.
        self.cam_fc1 = nn.Linear(3, 1)
        self.cam_fc2 = nn.Linear(num_vertices[0], camera_hidden)
        self.cam_fc3 = nn.Linear(camera_hidden, 3)

        # Learned upsampling along the vertex axis (shared across xyz);
        # two-level meshes (hands) have no mid level.
        self.upsample_mid = (nn.Linear(num_vertices[0], num_vertices[1])
                             if len(num_vertices) == 3 else None)
        self.upsample_full = nn.Linear(num_vertices[-2], num_vertices[-1])

        self._reset_parameters()
        if freeze_upsampling:
            self.set_upsampling_trainable(False)

        self.loss_module = MODELS.build(loss) if loss is not None else None

    # ------------------------------------------------------------------ init
    def _reset_parameters(self) -> None:
        """BERT init N(0, 0.02) for the transformer part and query/patch
        projections; PyTorch defaults elsewhere (upsampling, patch embed)."""

        def bert_init(m: nn.Module) -> None:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

        for module in (self.blocks, self.patch_mlp, self.query_proj,
                       self.cam_fc1, self.cam_fc2, self.cam_fc3):
            module.apply(bert_init)
        for block in self.blocks:
            nn.init.normal_(block.pos_embed, std=0.02)

    def init_template(self, joints: ArrayLike,
                      vertices_coarse: ArrayLike) -> None:
        """Set the query template (saved in the state dict).

        Args:
            joints (array | Tensor): (J, 3) rest-pose joints, metres,
                pelvis-centred, in the prediction frame.
            vertices_coarse (array | Tensor): (V0, 3) rest-pose coarse
                vertices in the same frame.
        """
        j = _to_float_tensor(joints, 'template joints')
        v = _to_float_tensor(vertices_coarse, 'template vertices_coarse')
        if j.shape != self.template_joints.shape:
            raise ValueError('template joints must have shape '
                             f'{tuple(self.template_joints.shape)}, got '
                             f'{tuple(j.shape)}')
        if v.shape != self.template_vertices.shape:
            raise ValueError('template vertices_coarse must have shape '
                             f'{tuple(self.template_vertices.shape)}, got '
                             f'{tuple(v.shape)}')
        self.template_joints.copy_(j)
        self.template_vertices.copy_(v)
        self.template_initialized.fill_(True)

    @property
    def upsampling_layers(self) -> Tuple[nn.Linear, ...]:
        """The upsampling layers, coarse to full (one for two levels)."""
        return tuple(layer for layer in (self.upsample_mid,
                                         self.upsample_full)
                     if layer is not None)

    def init_upsampling(self,
                        up_mid: Optional[ArrayLike],
                        up_full: ArrayLike,
                        freeze: Optional[bool] = None) -> None:
        """Initialise the upsampling layers from the mesh sampler.

        Args:
            up_mid (array | Tensor | sparse, optional): (V1, V0) matrix
                ``U1`` (coarse -> mid, 1723 x 431 for SMPL); None for a
                two-level head.
            up_full (array | Tensor | sparse): (V2, V1) matrix ``U0``
                (mid -> full, 6890 x 1723; hands: coarse -> full, 778 x 195).
            freeze (bool, optional): if given, make the layers untrainable
                (True) or trainable (False).
        """
        if (up_mid is None) != (self.upsample_mid is None):
            raise ValueError(
                f'a head with {len(self.num_vertices)} mesh levels needs '
                + ('up_mid=None (one upsampling matrix)'
                   if self.upsample_mid is None else
                   'both upsampling matrices (up_mid and up_full)'))
        pairs = ((self.upsample_mid, up_mid, 'U1 (mid)'),
                 (self.upsample_full, up_full, 'U0 (full)'))
        for layer, mat, name in pairs:
            if layer is None:
                continue
            t = _to_float_tensor(mat, name)
            if t.shape != layer.weight.shape:
                raise ValueError(f'{name} upsampling matrix must have shape '
                                 f'{tuple(layer.weight.shape)}, got '
                                 f'{tuple(t.shape)}')
            with torch.no_grad():
                layer.weight.copy_(t)
                layer.bias.zero_()
        if freeze is not None:
            self.set_upsampling_trainable(not freeze)

    def set_upsampling_trainable(self, trainable: bool) -> None:
        """Enable / disable gradients of the upsampling layers."""
        for layer in self.upsampling_layers:
            for p in layer.parameters():
                p.requires_grad_(trainable)

    # --------------------------------------------------------------- forward
    def _embed_input(self, x: Union[Dict[str, Tensor], Tensor,
                                    Sequence[Tensor]]) -> Tensor:
        """Patch tokens (B, P, D0) from joints (sparse) or maps (dense)."""
        return self.token_encoder(x)

    @property
    def token_encoder(self) -> 'MPTTokenEncoder':
        """The input -> patch-token part (``patch_embed`` + ``patch_mlp``)
        as one module, e.g. the encoder a domain adaptation adapts. It is a
        view: it holds this head's own sub-modules (not registered twice);
        ``copy.deepcopy`` of it gives an independent encoder."""
        view = self.__dict__.get('_token_encoder_view')
        if view is None:
            view = MPTTokenEncoder(self.patch_embed, self.patch_mlp,
                                   self.in_channels, self.input_size)
            self.__dict__['_token_encoder_view'] = view
        return view

    def _mvm_mask(self, batch_size: int, num: int,
                  device: torch.device) -> Tensor:
        """(B, num) bool, True for masked queries (0..ratio*num each)."""
        num_masked = (torch.rand(batch_size, device=device) * self.mvm_ratio *
                      num).floor().long()
        ranks = torch.rand(batch_size, num,
                           device=device).argsort(dim=1).argsort(dim=1)
        return ranks < num_masked[:, None]

    def _camera(self, vertices_coarse: Tensor) -> Tensor:
        raw = self.cam_fc3(
            self.cam_fc2(self.cam_fc1(vertices_coarse).squeeze(-1)))
        scale = raw[:, :1]
        if self.camera_scale_act == 'softplus':
            # softplus(raw + c) == init when raw == 0.
            shift = math.log(math.expm1(self.camera_scale_init))
            scale = F.softplus(scale + shift)
        elif self.camera_scale_act == 'exp':
            scale = self.camera_scale_init * torch.exp(scale)
        return torch.cat([scale, raw[:, 1:]], dim=1)

    def forward(
        self, x: Union[Dict[str, Tensor], Tensor, Sequence[Tensor]]
    ) -> Dict[str, Tensor]:
        """Regress joints, the mesh pyramid and the camera.

        Args:
            x (dict | Tensor | Sequence[Tensor]): either
                ``dict(joints_px=(B, K, 2), joint_weights=(B, K))`` (plus
                an optional ``pixel_noise``, see ``HeatmapPatchEmbed``) with
                pixel coordinates in the ``input_size`` crop (pixel centres
                at integers; pre-training, sparse heatmaps; weights default
                to 1), or maps (B, C, H, W) (fine-tuning; resized
                bilinearly to ``input_size`` if needed; for a sequence the
                last map is used; ``dict(heatmaps=maps)`` also works).

        Returns:
            dict: ``joints`` (B, J, 3), ``vertices_coarse`` (B, V0, 3),
            ``vertices_mid`` (B, V1, 3) (three-level heads only),
            ``vertices`` (B, V_full, 3) in metres (root-centred: pelvis or
            wrist), ``camera`` (B, 3) = ``(s, tx, ty)``.
        """
        return self.forward_tokens(self._embed_input(x))

    def forward_tokens(self, patches: Tensor) -> Dict[str, Tensor]:
        """The transformer on patch tokens (B, P, D0) from
        :attr:`token_encoder`; outputs as :meth:`forward`."""
        bsz = patches.shape[0]
        if patches.shape[1] != self.num_patches:
            raise ValueError(f'patch embedding gave {patches.shape[1]} '
                             f'tokens, expected {self.num_patches}')
        template = torch.cat([self.template_joints, self.template_vertices],
                             dim=0).to(patches.dtype)
        queries = template.unsqueeze(0).expand(bsz, -1, -1)  # (B, Q, 3)
        if self.global_feature == 'mean':
            glob = patches.mean(dim=1, keepdim=True)
        elif self.global_feature == 'flatten':
            glob = self.global_proj(
                self.global_reduce(patches).flatten(1)).unsqueeze(1)
        elif self.global_feature == 'token_mix':
            glob = self.token_mix(patches)  # (B, P, D0) -> (B, Q, D0)
        if self.global_feature != 'none':
            queries = torch.cat(
                [queries, glob.expand(-1, self.num_queries, -1)], dim=-1)
        if self.training and self.mvm_ratio > 0:
            mask = torch.cat([
                self._mvm_mask(bsz, self.num_joints, patches.device),
                self._mvm_mask(bsz, self.num_vertices[0], patches.device)
            ], dim=1)
            queries = torch.where(mask[..., None],
                                  queries.new_tensor(self.mvm_value),
                                  queries)
        tokens = torch.cat([self.query_proj(queries), patches], dim=1)
        for block in self.blocks:
            tokens = block(tokens)  # last block: (B, N, 3)

        joints = tokens[:, :self.num_joints]
        vertices_coarse = tokens[:, self.num_joints:self.num_queries]
        out = dict(joints=joints, vertices_coarse=vertices_coarse)
        # Linear layers along the vertex axis: (B, 3, V) -> (B, 3, V').
        verts = vertices_coarse
        if self.upsample_mid is not None:
            verts = out['vertices_mid'] = self.upsample_mid(
                verts.transpose(1, 2)).transpose(1, 2)
        out['vertices'] = self.upsample_full(
            verts.transpose(1, 2)).transpose(1, 2)
        out['camera'] = self._camera(vertices_coarse)
        return out

    def loss(self,
             x: Union[Dict[str, Tensor], Tensor, Sequence[Tensor]],
             batch_gt: Dict[str, Tensor],
             train_cfg: Optional[dict] = None) -> Dict[str, Tensor]:
        """Forward and compute the named losses.

        Args:
            x: input, see :meth:`forward`.
            batch_gt (dict): GT tensors, see ``MPTMeshLoss``.
            train_cfg (dict, optional): unused, for the mmpose head API.

        Returns:
            dict: ``loss_vertices``, ``loss_joints``, ``loss_joints_reg``,
            ``loss_joints_proj``.
        """
        if self.loss_module is None:
            raise ValueError('MPTMeshTransformerHead was built with '
                             'loss=None; cannot compute losses')
        return self.loss_module(self.forward(x), batch_gt)

    def predict(self,
                x: Union[Dict[str, Tensor], Tensor, Sequence[Tensor]],
                test_cfg: Optional[dict] = None) -> Dict[str, Tensor]:
        """Inference; same outputs as :meth:`forward` (no MVM in eval).

        Args:
            x: input, see :meth:`forward`.
            test_cfg (dict, optional): unused, for the mmpose head API.

        Returns:
            dict: see :meth:`forward`.
        """
        return self.forward(x)

    # ---------------------------------------------------------------- costs
    def num_parameters(self, trainable_only: bool = False) -> int:
        """int: parameter count of the head (the loss has none)."""
        return sum(p.numel() for p in self.parameters()
                   if p.requires_grad or not trainable_only)

    def flops_breakdown(self, sparse_input: bool = False) -> Dict[str, float]:
        """Analytic forward FLOPs per sample (1 multiply-add = 2 FLOPs).

        Counts matrix products only (Linear layers, ``QK^T``, ``AV``);
        LayerNorm, softmax, GELU and additions are < 1 % and ignored.

        Args:
            sparse_input (bool): count the patch embedding of the sparse
                joints path (a ``T x T`` window of patches per joint)
                instead of the dense ``8*8*C -> E`` Linear on
                all patches. Defaults to False.

        Returns:
            dict: FLOPs per component: ``patch_embed``, ``global_feature``
            (the ``global_feature`` summary of the patch tokens), ``queries``,
            ``block{i}_layers``, ``block{i}_proj`` (embedding + output and
            residual projections), ``camera``, ``upsampling``.
        """
        n, p = self.num_tokens, self.num_patches
        d0 = self.embed_dims[0]
        flops = {}
        patch_in = self.patch_size**2 * self.in_channels
        e = self.patch_embed_dim
        if sparse_input:
            # One (T*T, P*P) @ (P*P, E) product per joint window, as in
            # HeatmapPatchEmbed.forward_joints (tiny: ~0.01 % of the head).
            t, ps = self.patch_embed.window_patches, self.patch_size
            first = 2.0 * self.in_channels * t * t * ps * ps * e
        else:
            first = 2.0 * p * patch_in * e
        flops['patch_embed'] = first + 2.0 * p * e * d0
        if self.global_feature == 'token_mix':
            flops['global_feature'] = 2.0 * self.num_queries * p * d0
        elif self.global_feature == 'flatten':
            r = self.global_reduce.out_features
            flops['global_feature'] = 2.0 * (p * d0 * r + p * r * d0)
        else:
            flops['global_feature'] = 0.0
        flops['queries'] = 2.0 * self.num_queries * (
            self.query_proj.in_features * d0)
        for i in range(3):
            h = self.hidden_dims[i]
            f = int(round(h * self.ffn_ratio))
            per_layer = (2.0 * n * h * 3 * h  # qkv
                         + 2.0 * 2 * n * n * h  # QK^T and AV
                         + 2.0 * n * h * h  # attention output
                         + 2.0 * 2 * n * h * f)  # FFN
            flops[f'block{i + 1}_layers'] = per_layer * self.num_layers[i]
            d_in, d_out = self.embed_dims[i], self.out_dims[i]
            flops[f'block{i + 1}_proj'] = 2.0 * n * (d_in * h + h * d_out +
                                                     d_in * d_out)
        v0 = self.num_vertices[0]
        flops['camera'] = 2.0 * (v0 * 3 + v0 * self.cam_fc2.out_features +
                                 self.cam_fc2.out_features * 3)
        flops['upsampling'] = 2.0 * 3 * sum(
            a * b for a, b in zip(self.num_vertices, self.num_vertices[1:]))
        return flops

    def flops_per_sample(self,
                         train: bool = True,
                         sparse_input: bool = False) -> float:
        """Analytic FLOPs per sample.

        Args:
            train (bool): if True, forward + backward, estimated as 3x the
                forward (the backward computes gradients w.r.t. inputs and
                weights, 2x the forward). Defaults to True.
            sparse_input (bool): see :meth:`flops_breakdown`.

        Returns:
            float: FLOPs (not GFLOPs).
        """
        fwd = sum(self.flops_breakdown(sparse_input).values())
        return 3.0 * fwd if train else fwd
