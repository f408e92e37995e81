from .domain_adaptation_protocol import DA_MODES, DomainAdaptationProtocol
from .key2mesh_estimator import Key2MeshEstimator
from .finetune_estimator import MPTFinetuneEstimator
from .hand_finetune_estimator import MPTHandFinetuneEstimator
from .hand_pretrain_estimator import MPTHandPretrainEstimator
from .pretrain_estimator import MPTPretrainEstimator
from .pc_hmr_estimator import PCHMREstimator
from .wgan_domain_adaptation import MPTWGANDomainAdaptation

__all__ = [
    'DA_MODES', 'DomainAdaptationProtocol', 'Key2MeshEstimator',
    'MPTFinetuneEstimator', 'MPTHandFinetuneEstimator',
    'MPTHandPretrainEstimator',
    'MPTPretrainEstimator', 'PCHMREstimator',
    'MPTWGANDomainAdaptation'
]
