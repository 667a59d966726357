"""tfinpaint.regions: each hole region filled in a crop at a working size, only hole pixels pasted.
Small images and trivial fill functions (a mean colour, OpenCV's Telea), except one 12 MP array."""
import cv2
import numpy as np
import pytest

from tfinpaint.regions import DETAIL_REACH, Region, fill, hole_of, padded, plan, work

SENTINEL = (255, 0, 255)  # what the hole holds in the photo a user sends


def mean_fill(crop, hole):
    """The known pixels' mean colour in the hole (grey if there is no known pixel)."""
    out = crop.copy()
    out[hole] = np.rint(crop[~hole].mean(axis=0)) if (~hole).any() else 128
    return out


def telea_fill(crop, hole):
    return cv2.inpaint(crop, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)


class Recorder:
    """A fill_fn checking the arguments it gets and keeping the crop shapes it was called with."""

    def __init__(self, fn=mean_fill):
        self.fn, self.shapes = fn, []

    def __call__(self, crop, hole):
        assert crop.dtype == np.uint8 and crop.ndim == 3 and crop.shape[2] == 3
        assert hole.dtype == bool and hole.shape == crop.shape[:2] and hole.any()
        self.shapes.append(hole.shape)
        return self.fn(crop, hole)


def photo(height, width, seed=0):
    """uint8 [H, W, 3]: colour gradients plus noise, so every pixel has detail."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([200 * x / width, 200 * y / height, 100 * (x + y) / (height + width)], -1)
    noise = np.random.default_rng(seed).normal(0, 12, (height, width, 3))
    return np.clip(base + 30 + noise, 0, 255).astype(np.uint8)


def sent(image, hole):
    """The photo as a user sends it: the sentinel colour in the hole."""
    out = image.copy()
    out[hole] = SENTINEL
    return out


def check_filled(given, hole, out):
    """Known pixels bit for bit the input's; no hole pixel left at the sentinel colour."""
    assert out.dtype == np.uint8 and out.shape == given.shape
    np.testing.assert_array_equal(out[~hole], given[~hole])
    assert not np.all(out[hole] == SENTINEL, axis=-1).any()


def boxes(hole, **kwargs):
    return [(r.top, r.left, r.bottom, r.right) for r in plan(hole, **kwargs)]


def test_far_apart_holes_are_separate_regions_with_context():
    hole = np.zeros((200, 300), bool)
    hole[20:30, 20:30] = True  # 10x10: margin max(16, 5) = 16
    hole[150:170, 230:290] = True  # 20x60: margin max(16, 30) = 30, clipped at the right side
    regions = plan(hole, context=0.5, min_context=16)
    assert [(r.top, r.left, r.bottom, r.right) for r in regions] == [
        (4, 4, 46, 46), (120, 200, 200, 300)]
    assert [r.components for r in regions] == [(1,), (2,)]
    assert all(r.scale == 1.0 and r.working_shape == r.shape for r in regions)


def test_overlapping_context_boxes_merge_until_none_overlap():
    hole = np.zeros((120, 120), bool)
    hole[10:40, 10:40] = True  # context box (0, 0, 50, 50)
    hole[50:80, 50:80] = True  # (40, 40, 90, 90): overlaps the first
    hole[70:80, 10:20] = True  # (60, 0, 90, 30): overlaps neither, but their union's bounding box
    assert boxes(hole, context=0, min_context=10, merge=False) == [
        (0, 0, 50, 50), (40, 40, 90, 90), (60, 0, 90, 30)]
    regions = plan(hole, context=0, min_context=10)
    assert [(r.top, r.left, r.bottom, r.right) for r in regions] == [(0, 0, 90, 90)]
    assert regions[0].components == (1, 2, 3)


def test_regions_are_disjoint_and_hold_every_hole_pixel_once():
    rng = np.random.default_rng(1)
    hole = np.zeros((300, 400), bool)
    for _ in range(40):
        y, x, h, w = rng.integers(0, 300), rng.integers(0, 400), *rng.integers(1, 12, 2)
        hole[y:y + h, x:x + w] = True
    regions = plan(hole, context=0.5, min_context=8)
    assert len(regions) > 3  # the holes are not all one region
    cover = np.zeros(hole.shape, int)
    for r in regions:
        cover[r.slices] += 1
    assert cover.max() == 1 and (cover[hole] == 1).all()
    parts = sorted(k for r in regions for k in r.components)
    assert parts == list(range(1, cv2.connectedComponents(hole.astype(np.uint8))[0]))


def test_fill_keeps_known_pixels_and_fills_every_hole_pixel():
    image = photo(240, 480)
    hole = np.zeros((240, 480), bool)
    hole[100:180, 60:200] = True  # big: its crop (30, 0, 240, 270) is downscaled
    hole[20:26, 420:440] = True  # small: its crop (0, 388, 58, 472) is filled at full resolution
    for fn in (mean_fill, telea_fill):
        for detail in (False, True):
            record = Recorder(fn)
            given = sent(image, hole)
            out = fill(given, hole, record, working=96, detail=detail)
            check_filled(given, hole, out)
            assert len(record.shapes) == 2 and max(max(s) for s in record.shapes) == 96


def test_crops_are_downscaled_to_the_working_size_never_upscaled():
    hole = np.zeros((400, 600), bool)
    hole[50:150, 50:250] = True  # crop (0, 0, 250, 350)
    hole[380:384, 500:504] = True  # crop (372, 492, 392, 512)
    big, small = plan(hole, working=64, min_context=8)
    assert big.shape == (250, 350) and big.working_shape == (46, 64) and big.scale == 64 / 350
    assert small.shape == (20, 20) and small.scale == 1.0 and small.working_shape == (20, 20)
    record = Recorder()
    fill(sent(photo(400, 600), hole), hole, record, working=64, min_context=8)
    assert record.shapes == [(46, 64), (20, 20)]


def test_downscaled_known_pixels_average_known_pixels_only():
    colour = np.array([90, 120, 200], np.uint8)
    image = np.broadcast_to(colour, (301, 257, 3)).copy()
    hole = np.zeros((301, 257), bool)
    hole[83:211, 47:199] = True
    hole[0:3, 250:257] = True  # a border hole too

    def known_is_colour(crop, crop_hole):
        assert max(crop_hole.shape) <= 37
        assert (crop[~crop_hole] == colour).all()  # no sentinel leaked into a known pixel
        return mean_fill(crop, crop_hole)

    out = fill(sent(image, hole), hole, known_is_colour, working=37)
    np.testing.assert_array_equal(out, image)


def test_detail_continues_the_photos_texture_at_the_hole_edge():
    x = np.arange(160)
    stripes = np.broadcast_to((128 + 60 * np.sin(2 * np.pi * x / 6))[None, :, None],
                              (160, 160, 3)).astype(np.uint8)
    hole = np.zeros((160, 160), bool)
    hole[40:120, 40:120] = True  # one region, the whole image, filled at a quarter size
    assert [(r.shape, r.scale) for r in plan(hole, working=40)] == [((160, 160), 0.25)]
    given = sent(stripes, hole)
    plain = fill(given, hole, telea_fill, working=40, detail=False)
    sharp = fill(given, hole, telea_fill, working=40, detail=True)
    check_filled(given, hole, sharp)
    distance = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
    edge = hole & (distance <= 3)
    edge[:, :50] = edge[:, 110:] = False  # the top and bottom edges: stripes cross them

    def error(out):
        return np.abs(out.astype(float) - stripes)[edge].mean()

    def energy(a, where):
        a = a.astype(np.float32)
        return ((a - cv2.GaussianBlur(a, (3, 3), 0))[where] ** 2).mean()

    assert error(sharp) < 0.5 * error(plain)  # the stripes go on into the hole
    ring = hole & (distance <= 4)
    photo_energy = energy(stripes, ~hole)
    assert energy(plain, ring) < 0.2 * photo_energy  # a blurry fill next to sharp stripes
    assert energy(sharp, ring) > 0.5 * photo_energy
    deep = hole & (distance > DETAIL_REACH / 0.25 + 1)
    np.testing.assert_array_equal(sharp[deep], plain[deep])  # the interior is the model's


def test_holes_on_the_border_and_corners():
    image = photo(120, 160, seed=2)
    hole = np.zeros((120, 160), bool)
    hole[0:10, 0:10] = hole[110:120, 150:160] = True  # corners
    hole[50:70, 0:4] = hole[0:3, 70:90] = True  # left and top edges
    for r in plan(hole, min_context=12):
        assert 0 <= r.top < r.bottom <= 120 and 0 <= r.left < r.right <= 160
    given = sent(image, hole)
    for working in (512, 16):
        check_filled(given, hole, fill(given, hole, Recorder(telea_fill), working=working,
                                       min_context=12))


def test_a_hole_over_the_whole_photo_is_one_downscaled_region():
    hole = np.ones((90, 120), bool)
    assert plan(hole, working=48) == [Region(0, 0, 90, 120, 0.4, (1,))]
    assert plan(hole, working=48)[0].working_shape == (36, 48)
    record = Recorder()
    out = fill(sent(photo(90, 120), hole), hole, record, working=48)
    assert record.shapes == [(36, 48)]
    assert (out == 128).all()  # mean_fill's grey, upscaled, no detail to add back


def test_no_hole_returns_the_image_without_calling_fill_fn():
    def never(crop, hole):
        raise AssertionError("fill_fn called without a hole")

    image = photo(40, 50)
    hole = np.zeros((40, 50), bool)
    out = fill(image, hole, never)
    np.testing.assert_array_equal(out, image)
    assert plan(hole) == []
    assert work(image.shape, hole) == {"regions": 0, "crop_pixels": 0, "working_pixels": 0,
                                       "hole_pixels": 0, "photo_pixels": 2000}


def test_12mp_photo_with_two_small_holes_costs_two_small_crops():
    image = np.random.default_rng(3).integers(0, 256, (3024, 4032, 3), np.uint8)
    hole = np.zeros((3024, 4032), bool)
    hole[500:540, 600:640] = True  # 40x40: margin max(32, 20) = 32, crops 104x104
    hole[2500:2530, 3500:3540] = True  # 30x40: margin 32, crops 94x104
    budget = work(image.shape, hole)
    assert budget == {"regions": 2, "crop_pixels": 104 * 104 + 94 * 104,
                      "working_pixels": 104 * 104 + 94 * 104, "hole_pixels": 40 * 40 + 30 * 40,
                      "photo_pixels": 3024 * 4032}
    assert budget["working_pixels"] < 0.002 * budget["photo_pixels"]
    record = Recorder()
    given = sent(image, hole)
    out = fill(given, hole, record)
    assert record.shapes == [(104, 104), (94, 104)]
    check_filled(given, hole, out)


def test_work_counts_the_working_pixels_of_downscaled_crops():
    hole = np.zeros((1000, 1500), bool)
    hole[200:800, 300:1200] = True
    budget = work((1000, 1500), hole, working=100)
    assert budget["regions"] == 1 and budget["crop_pixels"] == 1000 * 1500
    assert budget["working_pixels"] == 67 * 100


def test_padded_gives_the_model_multiples_of_8_and_crops_back():
    record = Recorder(telea_fill)
    fn = padded(record, 8)
    for h, w in ((37, 50), (1, 1), (3, 3), (16, 24)):
        crop = photo(h, w)
        hole = np.zeros((h, w), bool)
        hole[h // 2, w // 2] = True
        out = fn(crop, hole)
        assert out.shape == (h, w, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out[~hole], crop[~hole])
    assert record.shapes == [(40, 56), (8, 8), (8, 8), (16, 24)]


def test_bad_arguments_are_refused_with_a_message():
    image = photo(20, 30)
    mask = np.ones((20, 30, 1), np.float32)
    mask[5:10, 5:10] = 0
    with pytest.raises(ValueError, match="bool"):
        fill(image, mask, mean_fill)
    assert hole_of(mask).sum() == 25 and hole_of(mask)[5:10, 5:10].all()
    with pytest.raises(ValueError, match="same size"):
        fill(image, np.zeros((30, 20), bool), mean_fill)
    with pytest.raises(ValueError, match="shape"):
        fill(image, hole_of(mask), lambda crop, hole: crop[:-1])


def test_without_merging_each_hole_part_is_filled_from_its_own_crop():
    hole = np.zeros((100, 100), bool)
    hole[30:40, 30:40] = hole[30:40, 45:55] = True  # crops (20, 20, 50, 50), (20, 35, 50, 65)
    assert boxes(hole, context=0, min_context=10, merge=False) == [(20, 20, 50, 50),
                                                                   (20, 35, 50, 65)]
    colours = iter([(10, 20, 30), (200, 100, 0)])

    def by_call(crop, crop_hole):
        assert crop_hole.sum() == 150  # half of the other part is in the crop, as hole
        out = crop.copy()
        out[crop_hole] = next(colours)
        return out

    out = fill(sent(photo(100, 100), hole), hole, by_call, context=0, min_context=10,
               merge=False)
    assert (out[30:40, 30:40] == (10, 20, 30)).all() and (out[30:40, 45:55] == (200, 100, 0)).all()
