"""SimCLR data augmentation, per image (readable) and batched on the device (fast).

- ``recipe.py``: the family 𝒯 — ``AugmentConfig`` (SimCLR's recipe and presets) and ``per_image``,
  a torchvision pipeline for one image. Read this one first.
- ``batch.py``: ``batched``/``BatchAugment``, the same distribution for a whole batch on its device,
  built from the kernels in ``geometry.py`` (crop and flip as matrix products) and ``color.py``
  (jitter, hue and grayscale in closed form).
"""

from edu_contrast.augment.batch import BatchAugment, batched
from edu_contrast.augment.color import BatchColorJitter, BatchGrayscale, hue_shift
from edu_contrast.augment.geometry import BatchResizedCropFlip, crop_boxes, resize_weights
from edu_contrast.augment.recipe import AugmentConfig, blur_kernel_size, per_image

__all__ = [
    "AugmentConfig",
    "per_image",
    "batched",
    "BatchAugment",
    "blur_kernel_size",
    "hue_shift",
    "BatchColorJitter",
    "BatchResizedCropFlip",
    "BatchGrayscale",
    "crop_boxes",
    "resize_weights",
]
