from .inference import (CheckpointMismatchError, ImageReadError,
                        InferenceInputError, inference_keypoints,
                        inference_mesh, init_model)
from .mesh_inferencer import MeshInferencer
from .mocap_eval import evaluate_mocap_model, save_mocap_prediction_figure

__all__ = [
    'evaluate_mocap_model', 'save_mocap_prediction_figure', 'init_model',
    'inference_mesh', 'inference_keypoints', 'MeshInferencer',
    'ImageReadError', 'InferenceInputError', 'CheckpointMismatchError'
]
