from .mpt_finetune_estimator import MPTFinetuneEstimator
from .mpt_pretrain_estimator import MPTPretrainEstimator
from .pc_hmr_estimator import PCHMREstimator

__all__ = ['MPTFinetuneEstimator', 'MPTPretrainEstimator', 'PCHMREstimator']
