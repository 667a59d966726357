"""The realism (SWD) and diversity measures of the protocol (tfinpaint.realism, evaluate.py)."""
import importlib.util
import json
import os

import numpy as np
import pytest

from tfinpaint import evaluate, realism

N = 400  # test images: enough for a stable ranking, small enough to stay fast


@pytest.fixture(scope="module")
def cars_npz(data_dir):
    with np.load(os.path.join(data_dir, "cifar10_cars.npz")) as f:
        return f["x_test"][:N], f["x_train"]


@pytest.fixture(scope="module")
def anchors(cars_npz):
    """SWD of the anchors on the cars protocol holes against the truth (the test images)."""
    truth, train = cars_npz
    masks = evaluate.protocol_masks(N, 32, 32, 12)
    ref = realism.Reference(truth, masks)
    x = truth.astype(np.float32) / 255
    hole = masks < 0.5

    def composite(fill):
        return np.where(hole, fill, x)

    fills = {"blur": composite(realism.gaussian_blur(truth, 1.0)),
             "noise": composite(np.random.default_rng(0).random(x.shape, dtype=np.float32))}
    for name in ("mean", "telea"):  # (biharmonic ranks like telea: benchmarks/realism_anchors.py)
        fills[name] = np.stack([evaluate.classical_fill(name, truth[i], hole[i, ..., 0])
                                for i in range(N)])
    floors = [ref.swd(train[i * N:(i + 1) * N]) for i in range(4)]  # 4 disjoint real samples
    scores = {name: ref.swd(f) for name, f in fills.items()}
    print("real floors", np.round(floors, 1), {k: round(v, 1) for k, v in scores.items()})
    return {"truth": truth, "train": train, "masks": masks, "ref": ref, "fills": fills,
            "floors": floors, "scores": scores}


def test_ranking_real_then_sensible_fills_then_blur_and_mean_colour_then_noise(anchors):
    floors, s = anchors["floors"], anchors["scores"]
    real = max(floors)
    # Real holes (a second sample of real images) are best, every fill is worse.
    for name in ("telea", "blur", "mean", "noise"):
        assert s[name] > real, (name, s, floors)
    # A blurred truth and a mean-colour fill are clearly worse than real: several times the
    # floor, and far outside the spread of the floor between disjoint real samples.
    spread = np.std(floors)
    for name in ("blur", "mean"):
        assert s[name] > 3 * real, (name, s, floors)
        assert s[name] - np.mean(floors) > 10 * spread, (name, s, floors)
    # Uniform noise is the worst of all, by far.
    assert s["noise"] > 2 * max(v for k, v in s.items() if k != "noise"), s


def test_swd_sees_blur_that_a_colour_histogram_measure_cannot(anchors):
    """A blurred truth whose hole colours are re-mapped to have exactly the truth's per-channel
    histogram: a histogram (or moments) measure calls it perfect, below the real-sample noise;
    the SWD still puts it far above the floor. So the SWD's blur penalty comes from the spatial
    structure of the patches, not from their colours."""
    truth, train, masks, ref = anchors["truth"], anchors["train"], anchors["masks"], anchors["ref"]
    hole = np.broadcast_to(masks < 0.5, truth.shape)
    x = truth.astype(np.float32) / 255
    matched = anchors["fills"]["blur"].copy()
    for c in range(3):  # rank-match the blurred hole values to the truth's hole values
        values = matched[..., c][hole[..., c]]
        remapped = np.empty_like(values)
        remapped[np.argsort(values, kind="stable")] = np.sort(x[..., c][hole[..., c]])
        matched[..., c][hole[..., c]] = remapped

    def histogram_distance(a, b):  # 1-D Wasserstein of each channel's hole colours, x1e3
        a, b = realism.as_float(a)[hole].reshape(-1, 3), realism.as_float(b)[hole].reshape(-1, 3)
        return 1e3 * np.mean(np.abs(np.sort(a, axis=0) - np.sort(b, axis=0)))

    hist_floor = [histogram_distance(truth, train[i * N:(i + 1) * N]) for i in range(2)]
    assert histogram_distance(truth, matched) < min(hist_floor) / 4, hist_floor
    assert ref.swd(matched) > 3 * max(anchors["floors"]), (ref.swd(matched), anchors["floors"])
    # The plain blur itself: the SWD penalty (in units of the floor) is much larger than the
    # histogram measure's, which is within a few floors.
    swd_ratio = anchors["scores"]["blur"] / max(anchors["floors"])
    hist_ratio = histogram_distance(truth, anchors["fills"]["blur"]) / max(hist_floor)
    assert swd_ratio > 1.5 * hist_ratio, (swd_ratio, hist_ratio)


def test_truth_scores_zero_and_only_the_hole_region_counts():
    rng = np.random.default_rng(0)
    images = realism.gaussian_blur(rng.random((16, 64, 64, 3), dtype=np.float32), 1.0)
    masks = np.ones((16, 64, 64, 1), np.float32)
    masks[:, 2:14, 3:15] = 0  # a 12x12 hole near the top-left corner
    ref = realism.Reference(images, masks)
    assert ref.levels == 2
    assert ref.swd(images) == 0.0
    far = images.copy()
    far[:, 32:, 32:] = rng.random(far[:, 32:, 32:].shape)  # far from the hole: ignored
    assert ref.swd(far) == 0.0
    near = images.copy()
    near[:, 2:14, 3:15] = rng.random(near[:, 2:14, 3:15].shape)  # inside the hole: seen
    assert ref.swd(near) > 100
    # The same figure from the one-shot function, every time (fixed seeds).
    assert realism.swd(images, near, masks) == ref.swd(near)


def test_levels_follow_the_hole_size():
    assert realism.default_levels(evaluate.protocol_masks(4, 32, 32, 12)) == 2
    assert realism.default_levels(evaluate.protocol_masks(4, 64, 64, 32, center=True)) == 3
    assert realism.default_levels(evaluate.protocol_masks(4, 128, 128, 64, center=True)) == 4
    assert realism.default_levels(evaluate.protocol_masks(4, 32, 32, 4)) == 1


def test_laplacian_pyramid_collapses_back_to_the_image():
    x = np.random.default_rng(0).random((3, 32, 28, 3), dtype=np.float32)
    levels = realism.laplacian_pyramid(x, 3)
    assert [lvl.shape[1:3] for lvl in levels] == [(32, 28), (16, 14), (8, 7)]
    image = levels[-1]
    for band in reversed(levels[:-1]):
        image = band + realism.upsample(image, band.shape)
    np.testing.assert_allclose(image, x, atol=1e-5)


def test_sliced_wasserstein_is_exact_in_one_dimension_and_for_shifts():
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 1)).astype(np.float32)
    b = rng.exponential(size=(500, 1)).astype(np.float32)
    assert realism.sliced_wasserstein(a, b, 16) == pytest.approx(
        wasserstein_distance(a[:, 0], b[:, 0]), rel=1e-5)
    a = rng.normal(size=(300, 5)).astype(np.float32)
    shift = np.array([0.3, -0.2, 0.0, 1.0, 0.5], np.float32)
    expected = np.mean(np.abs(realism.directions(5, 64).T @ shift))
    assert realism.sliced_wasserstein(a, a + shift, 64) == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError):
        realism.sliced_wasserstein(a, a[:10])


def test_diversity_is_the_mean_pairwise_hole_l1():
    masks = np.ones((2, 8, 8, 1), np.float32)
    masks[:, 2:6, 2:6] = 0
    base = np.full((2, 1, 8, 8, 3), 0.5, np.float32)
    assert realism.diversity(np.repeat(base, 3, axis=1), masks) == 0.0
    assert realism.diversity(base, masks) == 0.0  # one draw
    draws = np.repeat(base, 3, axis=1)
    draws[:, 1, 2:6, 2:6] += 40 / 255  # draw 1: +40 levels inside the hole
    draws[:, 2] = np.random.default_rng(0).random(draws[:, 2].shape)  # draw 2 differs ...
    draws[:, 2, 2:6, 2:6] = 0.5  # ... outside the hole only
    # pairs (0,1) and (1,2) differ by 40/255 in the hole, (0,2) by nothing there.
    assert realism.diversity(draws, masks) == pytest.approx(2 / 3 * 40 / 255, rel=1e-5)
    as_uint8 = np.floor(np.clip(draws, 0, 1) * 255 + 0.5).astype(np.uint8)
    assert realism.diversity(as_uint8, masks) == pytest.approx(2 / 3 * 40 / 255, rel=1e-5)


def test_evaluate_reports_swd_diversity_and_the_real_floor(cars_npz):
    truth, train = cars_npz
    images = truth[:48]

    def fill(x, m):  # a deterministic fill: keeps the noise the protocol puts in the hole
        return np.asarray(x)

    def sampler(x, m, k, seed):
        rng = np.random.default_rng(seed)
        x = np.asarray(x)[:, None]
        m = np.asarray(m)[:, None]
        return x * m + rng.random((x.shape[0], k, *x.shape[2:]), dtype=np.float32) * (1 - m)

    rows = evaluate.evaluate({"det": fill, "drawn": fill}, images, 12, classical=("mean",),
                             samplers={"drawn": sampler}, draws=3, real=train)
    rows = {r["method"]: r for r in rows}
    assert set(rows) == {"det", "drawn", "mean", evaluate.REAL}
    for name in ("det", "drawn", "mean"):
        assert set(rows[name]) >= {"hole_psnr", "psnr", "ssim", "hole_l1", "swd", "diversity"}
        assert rows[name]["swd"] > rows[evaluate.REAL]["swd"] > 0
    assert rows["det"]["diversity"] == rows["mean"]["diversity"] == 0.0
    # Two independent uniform draws differ by 1/3 on average.
    assert rows["drawn"]["diversity"] == pytest.approx(1 / 3, abs=0.01)
    assert rows[evaluate.REAL]["hole_psnr"] is None
    table = evaluate.format_table(list(rows.values()))
    assert "swd" in table and "diversity" in table and evaluate.REAL in table
    with pytest.raises(ValueError, match="no fill"):
        evaluate.evaluate({}, images, 12, classical=(), samplers={"drawn": sampler})


def test_tables_print_a_dash_for_results_without_the_new_columns(tmp_path, capsys):
    old = {"method": "conv", "hole_psnr": 17.0, "psnr": 25.0, "ssim": 0.88, "hole_l1": 0.11,
           "ms_per_image": 1.0}
    new = dict(old, method="cvae", hole_psnr=17.5, swd=123.4, diversity=0.0512)
    floor = {"method": evaluate.REAL, "hole_psnr": None, "psnr": None, "ssim": None,
             "hole_l1": None, "swd": 21.0, "diversity": None, "ms_per_image": None}
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"title": "t", "rows": [old, new, floor]}))
    spec = importlib.util.spec_from_file_location(
        "table", os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks", "table.py"))
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    table.main(str(path))
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3].startswith("| cvae | 17.50 |") and "| 123.4 | 0.0512 |" in lines[-3]
    assert lines[-2].startswith("| conv | 17.00 |") and "| 0.1100 | - | - | 1.00 |" in lines[-2]
    assert "SWD noise floor" in lines[-1] and "| - | - | - | - | 21.0 | - | - |" in lines[-1]
    text = evaluate.format_table([old, new, floor])
    assert "123.4" in text and " - " in text
