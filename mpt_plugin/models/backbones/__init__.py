from .hrnet_pose_feature_maps import (HRNET_ARCH_WIDTHS,
                                      MPTHRNetPoseFeatureMaps,
                                      hrnet_arch_extra)

__all__ = ['HRNET_ARCH_WIDTHS', 'MPTHRNetPoseFeatureMaps', 'hrnet_arch_extra']
