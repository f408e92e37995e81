from . import transforms  # noqa: F401
from .amass_io import (AMASSFormatError, AMASSSequence, find_amass_sequences,
                       read_amass_sequence, scan_amass_tree,
                       split_amass_sequences)
from .domain_adaptation_collate import mpt_domain_adaptation_collate
from .domain_adaptation_dataset import MPTDomainAdaptationDataset
from .freihand_dataset import MPTFreiHANDDataset
from .freihand_io import FreiHANDFormatError, load_freihand_annotations
from .hand_pose_dataset import MPTHandPoseDataset
from .hand_pose_io import HandPoseFormatError, load_hand_pose_set
from .human_data_dataset import MPTHumanDataDataset
from .human_data_sequence_dataset import MPTHumanDataSequenceDataset
from .human_data_io import (HumanDataFormatError, load_human_data,
                            save_human_data, validate_human_data)
from .key2mesh_keypoints_dataset import (Key2MeshKeypointsDataset,
                                         Key2MeshKeypointsFormatError)
from .key2mesh_amass_pairs_dataset import Key2MeshAMASSPairsDataset
from .mixed_human_data_dataset import MPTMixedHumanDataDataset
from .mocap_heatmap_dataset import MPTMoCapHeatmapDataset
from .mocap_smpl_store import MoCapSMPLStore, MoCapStoreError, select_frames

__all__ = [
    'AMASSFormatError', 'AMASSSequence', 'find_amass_sequences',
    'read_amass_sequence', 'scan_amass_tree', 'split_amass_sequences',
    'mpt_domain_adaptation_collate', 'MPTDomainAdaptationDataset',
    'MPTFreiHANDDataset', 'FreiHANDFormatError', 'load_freihand_annotations',
    'MPTHumanDataDataset', 'MPTHumanDataSequenceDataset',
    'HumanDataFormatError', 'load_human_data',
    'save_human_data', 'validate_human_data', 'MPTMixedHumanDataDataset',
    'Key2MeshKeypointsDataset', 'Key2MeshKeypointsFormatError',
    'Key2MeshAMASSPairsDataset',
    'MPTMoCapHeatmapDataset',
    'MoCapSMPLStore', 'MoCapStoreError', 'select_frames',
    'MPTHandPoseDataset', 'HandPoseFormatError', 'load_hand_pose_set'
]
