from .pc_hmr_pose_calibration_neck import PCHMRPoseCalibrationNeck

__all__ = ['PCHMRPoseCalibrationNeck']
