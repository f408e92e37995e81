from .mocap_eval import evaluate_mocap_model, save_mocap_prediction_figure

__all__ = ['evaluate_mocap_model', 'save_mocap_prediction_figure']
