from setuptools import find_packages, setup

setup(
    name="tfinpaint",
    version="0.1.0",
    description="Fill holes in images with deep learning: TensorFlow/Keras 3 methods, one tf.data "
                "pipeline, keras-tuner search and SavedModels for TF Serving.",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tfinpaint", "tfinpaint.*", "tuner", "tuner.*", "serving",
                                    "serving.*"]),
    package_data={"serving": ["page/*.html", "page/*.css", "page/*.js", "page/*.svg"],  # the page
                  "tfinpaint": ["pretrained/*/*.h5", "pretrained/*/*.json"]},  # shipped weights
    python_requires=">=3.11,<3.14",
    install_requires=[
        "tensorflow>=2.16,<2.22",  # Keras 3 era; tested with 2.21 on CPU
        "keras>=3.3,<4",
        "tensorboard>=2.16,<2.22",  # TF 2.21 no longer pulls it in; needed for tf.summary
        "tensorflow-datasets>=4.9,<5",
        "importlib_resources>=5",  # tensorflow-datasets needs it to download, but does not declare it
        "keras-tuner>=1.4.7,<1.5",
        "scikit-learn>=1.3,<2",  # keras-tuner's BayesianOptimization (--tuner=bayesian)
        "numpy>=1.26,<3",
        "absl-py>=2.0,<3",
        "requests>=2.31,<3",  # serving.client
        "werkzeug>=3.0,<4",  # serving.server (the local TF-Serving-style REST server)
        "tensorflow-serving-api>=2.16,<2.22",  # serving.server: TF Serving's ModelServerConfig protos
        "opencv-python-headless>=4.8,<6",  # tfinpaint.regions: crops, resampling, components
        "pillow>=10,<14",  # EXIF orientation of users' photos (tfinpaint.utils.upright)
    ],
    entry_points={"console_scripts": ["tfinpaint=tfinpaint.cli:main"]},
    extras_require={
        "test": ["pytest>=8,<10", "hypothesis>=6.100,<7", "opencv-python-headless>=4.8,<6", "scikit-image>=0.22,<0.27",
                 "pypatchmatch>=2.2,<3", "selenium>=4.20,<5", "pytest-xdist>=3.5,<4"],  # tests/test_page.py drives Debian's chromium + chromedriver
        # PatchMatch: 2.x wheels carry the compiled library (1.x compiles at import, downloads
        # on some platforms); 2.x needs Python >= 3.11.
        "baselines": ["opencv-python-headless>=4.8,<6", "scikit-image>=0.22,<0.27",
                      "pypatchmatch>=2.2,<3"],
        "gpu": ["tensorflow[and-cuda]>=2.16,<2.22"],
    },
)
