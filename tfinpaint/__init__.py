"""tfinpaint: fill holes in images with deep learning (TensorFlow / Keras 3)."""
__version__ = "0.1.0"
