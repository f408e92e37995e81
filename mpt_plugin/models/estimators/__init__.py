from .mpt_finetune_estimator import MPTFinetuneEstimator
from .mpt_pretrain_estimator import MPTPretrainEstimator

__all__ = ['MPTFinetuneEstimator', 'MPTPretrainEstimator']
