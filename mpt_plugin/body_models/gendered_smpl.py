"""Batches of mixed genders through neutral/male/female SMPL models.

Gender codes follow mmhuman3d's ``GenderedSMPL``: ``-1`` neutral, ``0``
male, ``1`` female. Dimensions: ``B`` batch, ``V`` vertices; metres.
"""
import os
from typing import Any, Dict, Optional, Union

import torch
from torch import nn

from mpt_plugin.registry import MODELS
from .smpl import MPTSMPL

PathLike = Union[str, os.PathLike]

#: mmhuman3d gender codes -> SMPL gender names.
GENDER_CODES = {-1: 'neutral', 0: 'male', 1: 'female'}


@MODELS.register_module()
class MPTGenderedSMPL(nn.Module):
    """Neutral, male and female :class:`MPTSMPL` sharing their arguments.

    Each sample is posed by the model of its gender; a batch runs each
    gender's model at most once, on its subset, and the results are
    scattered back in batch order.

    Args:
        model_path (str | os.PathLike): Directory holding
            ``SMPL_{NEUTRAL,MALE,FEMALE}.{npz,pkl}``.
        **kwargs: Passed to every :class:`MPTSMPL` (``num_betas``,
            ``joints_regressor``, ...); ``gender`` is not allowed.
    """

    def __init__(self, model_path: PathLike, **kwargs: Any) -> None:
        super().__init__()
        if 'gender' in kwargs:
            raise TypeError('MPTGenderedSMPL builds all three genders; do '
                            'not pass gender')
        self.neutral = MPTSMPL(model_path, gender='neutral', **kwargs)
        self.male = MPTSMPL(model_path, gender='male', **kwargs)
        self.female = MPTSMPL(model_path, gender='female', **kwargs)
        models = (self.neutral, self.male, self.female)
        if len({m.num_vertices for m in models}) != 1 or len(
                {m.num_joints for m in models}) != 1:
            raise ValueError(
                'the gendered SMPL files disagree on mesh or joint counts: '
                + ', '.join(f'{m.model_file}: V={m.num_vertices}, '
                            f'J={m.num_joints}' for m in models))

    def model_for(self, code: int) -> MPTSMPL:
        """Returns the model of a gender code (-1, 0 or 1)."""
        return getattr(self, GENDER_CODES[int(code)])

    @property
    def joint_convention(self) -> str:
        """Convention of the ``joints`` output (``'smpl_45'``/``'smpl_24'``).
        """
        return self.neutral.joint_convention

    def forward(self,
                betas: Optional[torch.Tensor] = None,
                body_pose: Optional[torch.Tensor] = None,
                global_orient: Optional[torch.Tensor] = None,
                transl: Optional[torch.Tensor] = None,
                pose2rot: bool = True,
                gender: Optional[torch.Tensor] = None,
                **kwargs: Any) -> Dict[str, torch.Tensor]:
        """Poses each sample with the model of its gender.

        Args:
            betas, body_pose, global_orient, transl, pose2rot: As in
                :meth:`MPTSMPL.forward`.
            gender (torch.Tensor, optional): ``(B,)`` integer codes, -1
                neutral, 0 male, 1 female. ``None`` uses the neutral model
                for every sample.
            **kwargs: Passed to :meth:`MPTSMPL.forward`.

        Returns:
            dict[str, torch.Tensor]: As :meth:`MPTSMPL.forward`
            (``vertices (B, V, 3)``, ``joints``, optionally
            ``joints_regressed``), in metres.

        Raises:
            ValueError: Bad gender codes or shapes.
        """
        inputs = {
            'betas': betas,
            'body_pose': body_pose,
            'global_orient': global_orient,
            'transl': transl
        }
        if gender is None:
            return self.neutral(pose2rot=pose2rot, **inputs, **kwargs)

        gender = torch.as_tensor(gender)
        if gender.ndim != 1:
            raise ValueError(
                f'gender expected shape (B,), got {tuple(gender.shape)}')
        if gender.is_floating_point() and not torch.equal(
                gender, gender.round()):
            raise ValueError(f'gender codes must be integers -1/0/1, got '
                             f'{sorted(set(gender.tolist()))}')
        gender = gender.long()
        batch_size = gender.shape[0]
        for name, value in inputs.items():
            if value is not None and value.shape[0] != batch_size:
                raise ValueError(
                    f'{name} has batch {value.shape[0]} but gender has '
                    f'{batch_size} entries')
        codes = torch.tensor(
            sorted(GENDER_CODES), dtype=torch.long, device=gender.device)
        bad = ~torch.isin(gender, codes)
        if bad.any():
            raise ValueError(
                'unknown gender code(s) '
                f'{sorted(set(gender[bad].tolist()))}; expected -1 (neutral), '
                '0 (male) or 1 (female)')

        if all(v is None for v in inputs.values()):
            inputs['betas'] = torch.zeros(
                batch_size,
                self.neutral.num_betas,
                dtype=self.neutral.v_template.dtype,
                device=self.neutral.v_template.device)

        present = torch.unique(gender).tolist()
        if len(present) == 1:
            return self.model_for(present[0])(
                pose2rot=pose2rot, **inputs, **kwargs)

        result: Dict[str, torch.Tensor] = {}
        for code in present:
            idx = torch.nonzero(gender == code, as_tuple=True)[0]
            sub = {
                k: (None if v is None else v[idx.to(v.device)])
                for k, v in inputs.items()
            }
            out = self.model_for(code)(pose2rot=pose2rot, **sub, **kwargs)
            for key, value in out.items():
                if key not in result:
                    result[key] = value.new_zeros(
                        (batch_size, ) + tuple(value.shape[1:]))
                result[key] = result[key].index_copy(
                    0, idx.to(value.device), value)
        return result
