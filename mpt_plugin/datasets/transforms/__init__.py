from .normalize_keypoints import coco17_to_openpose18, normalize_keypoints_2d

__all__ = ['coco17_to_openpose18', 'normalize_keypoints_2d']
