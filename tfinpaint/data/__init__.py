"""Data sources, in-graph hole makers and the tf.data pipeline."""
from tfinpaint.data.holes import HoleMaker, box_masks, hole_bbox, square_masks
from tfinpaint.data.masks import MaskError, load_masks, read_image, read_mask
from tfinpaint.data.pipeline import eval_pipeline, take_array, to_float, train_pipeline
from tfinpaint.data.sources import DatasetUnavailable, Splits, load_dataset, resolve_data_dir

__all__ = ["DatasetUnavailable", "HoleMaker", "MaskError", "Splits", "box_masks", "eval_pipeline",
           "hole_bbox", "load_dataset", "load_masks", "read_image", "read_mask", "resolve_data_dir",
           "square_masks", "take_array", "to_float", "train_pipeline"]
