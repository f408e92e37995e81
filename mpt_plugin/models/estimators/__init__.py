from .mpt_pretrain_estimator import MPTPretrainEstimator

__all__ = ['MPTPretrainEstimator']
