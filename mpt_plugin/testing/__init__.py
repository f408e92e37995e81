"""Small registered components that exist to test the training machinery.

They are not models of the papers: a synthetic regression dataset, an MLP,
its data preprocessor and metric, and hooks that interrupt training or dump
per-rank weights. ``import mpt_plugin`` does not import this package, so
they are registered only where a test imports ``mpt_plugin.testing`` (or a
config lists it in ``custom_imports``).
"""
from .interrupt_hook import MPTInterruptHook
from .state_dump_hook import MPTStateDumpHook
from .toy_data_preprocessor import MPTToyDataPreprocessor
from .toy_regression_dataset import MPTToyRegressionDataset
from .toy_mse_metric import MPTToyMSEMetric
from .toy_regressor import MPTToyRegressor

__all__ = [
    'MPTInterruptHook', 'MPTStateDumpHook', 'MPTToyDataPreprocessor',
    'MPTToyMSEMetric', 'MPTToyRegressionDataset', 'MPTToyRegressor'
]
