import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.environ.get("TFINPAINT_DATA_DIR") or os.path.join(os.path.dirname(ROOT), "shared",
                                                                "data")
os.environ["TFINPAINT_DATA_DIR"] = DATA_DIR


@pytest.fixture(scope="session")
def data_dir():
    if not os.path.exists(os.path.join(DATA_DIR, "cifar10_cars.npz")):
        raise FileNotFoundError(f"the tests read real data from {DATA_DIR} (cifar10_cars.npz); "
                                "set TFINPAINT_DATA_DIR to the shared data folder.")
    return DATA_DIR


@pytest.fixture(scope="session")
def cars(data_dir):
    from tfinpaint.data import load_dataset

    return load_dataset("cifar10_cars", data_dir)


@pytest.fixture(scope="session")
def test_cars(data_dir):
    with np.load(os.path.join(data_dir, "cifar10_cars.npz")) as f:
        return f["x_test"]


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """An (untrained, seeded) conv model exported once: (keras model, version folder)."""
    from tfinpaint import export, models

    model = models.build("conv", 12, seed=0, depth=1, filters=8)
    path = export.export(model, str(tmp_path_factory.mktemp("export") / "conv"))
    return model, path


@pytest.fixture(scope="session")
def export_conv_and_cvae():
    """A function writing untrained, seeded `conv` and `cvae` (32x32) SavedModels under
    base/conv and base/cvae, for servers to load: a fully convolutional model and a fixed-size
    one that samples."""
    from tfinpaint import export, models

    def write(base):
        export.export(models.build("conv", 12, seed=0, depth=1, filters=8), str(base / "conv"))
        export.export(models.build("cvae", 12, image_size=32, latent_dim=8, seed=0),
                      str(base / "cvae"), 32)
        return base
    return write
