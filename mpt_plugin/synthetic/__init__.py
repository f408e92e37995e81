"""Generators of the synthetic assets that stand in for licensed data.

Used by the tools that write the assets (``tools/make_synthetic_assets.py``,
``tools/make_synthetic_images.py``), by benchmarks and by tests; never
imported by ``import mpt_plugin``, and nothing here is registered. Import the
module you need; this file imports none of them:

- :mod:`.smpl_model`: SMPL-format body models (:func:`make_synthetic_smpl`),
  assembled from :mod:`.body_proportions` (skeleton), :mod:`.body_sdf`
  (implicit surface), :mod:`.body_remeshing` (mesh topology),
  :mod:`.body_rigging` (skinning weights, joint regressors) and
  :mod:`.body_blend_shapes` (shape and pose blend shapes).
- :mod:`.hand_model`: MANO-format hand models, right and left
  (:func:`make_synthetic_mano`), assembled from :mod:`.hand_proportions`
  (skeleton), :mod:`.hand_mesh` (open mesh topology), :mod:`.hand_rigging`
  (skinning weights, joint regressor) and :mod:`.hand_blend_shapes` (shape
  and pose blend shapes, PCA pose space); :mod:`.hand_mesh_sampling`:
  their ``mano_downsampling.npz`` hierarchy.
- :mod:`.mesh_downsampling`: ``mesh_downsampling.npz`` hierarchies by QEM
  decimation (closed meshes, or open ones such as the hand).
- :mod:`.amass_motion`: AMASS-format motion capture trees.
- :mod:`.human_images`: rendered people with HumanData annotations.
- :mod:`.hand_poses`: hand pose sets standing in for MobRecon's Complement
  (articulations within finger joint limits; the format of
  :mod:`mpt_plugin.datasets.hand_pose_io`).
- :mod:`.freihand_images`: rendered hands in FreiHAND's official layout.
"""
