import numpy as np
import tensorflow as tf

from tfinpaint.data import HoleMaker, box_masks, hole_bbox, square_masks, train_pipeline


def test_random_holes_have_exact_area_and_span_every_position():
    masks = square_masks(4000, 32, 32, 12, tf.constant([1, 2])).numpy()
    assert masks.shape == (4000, 32, 32, 1)
    assert set(np.unique(masks)) == {0.0, 1.0}
    np.testing.assert_array_equal((masks == 0).sum(axis=(1, 2, 3)), 144)
    top, left, bottom, right = (t.numpy() for t in hole_bbox(masks))
    np.testing.assert_array_equal(bottom - top, 12)
    np.testing.assert_array_equal(right - left, 12)
    # Every offset 0..20 occurs, for rows and for columns, roughly uniformly (4000/21 = 190 each).
    for offsets in (top, left):
        counts = np.bincount(offsets, minlength=21)
        assert len(counts) == 21 and counts.min() > 120, counts


def test_center_holes_are_centred():
    masks = HoleMaker(12, mode="center")(tf.zeros([3, 32, 32, 3])).numpy()
    expected = np.ones((32, 32, 1), np.float32)
    expected[10:22, 10:22] = 0
    for m in masks:
        np.testing.assert_array_equal(m, expected)
    odd = HoleMaker(5, mode="center")(tf.zeros([1, 16, 16, 3])).numpy()[0, ..., 0]
    assert (odd == 0).sum() == 25 and odd[5:10, 5:10].max() == 0


def test_deterministic_under_seed():
    images = tf.zeros([16, 32, 32, 3])
    a, b = HoleMaker(12, seed=7), HoleMaker(12, seed=7)
    np.testing.assert_array_equal(a(images).numpy(), b(images).numpy())
    np.testing.assert_array_equal(a(images).numpy(), b(images).numpy())  # second draws agree too
    assert not np.array_equal(HoleMaker(12, seed=8)(images).numpy(), HoleMaker(12, seed=7)(images).numpy())
    s = tf.constant([3, 4])
    np.testing.assert_array_equal(a(images, seed=s).numpy(), b(images, seed=s).numpy())


def test_runs_in_tf_function_and_changes_each_call():
    maker = HoleMaker(12, seed=1)
    f = tf.function(lambda x: maker(x))
    m1, m2 = f(tf.zeros([8, 32, 32, 3])), f(tf.zeros([8, 32, 32, 3]))
    assert m1.shape == (8, 32, 32, 1)
    assert not np.array_equal(m1.numpy(), m2.numpy())


def test_runs_in_tf_data_map_deterministically():
    images = tf.data.Dataset.from_tensor_slices(np.zeros((64, 32, 32, 3), np.uint8))
    run = lambda: [m.numpy() for _, m in train_pipeline(images, 16, 3, HoleMaker(12)).take(4)]
    first, second = run(), run()
    for a, b in zip(first, second):
        assert a.shape == (16, 32, 32, 1)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal((a == 0).sum(axis=(1, 2, 3)), 144)
    assert not np.array_equal(first[0], first[1])


def test_bank_mode_draws_user_masks():
    bank = np.stack([box_masks(tf.constant([i]), tf.constant([i]), 3, 5, 16, 16)[0].numpy()
                     for i in range(3)])
    out = HoleMaker(mode="bank", masks=bank, seed=0)(tf.zeros([50, 16, 16, 3])).numpy()
    used = {int(np.argmax([np.array_equal(o, b) for b in bank])) for o in out}
    assert all(any(np.array_equal(o, b) for b in bank) for o in out)
    assert used == {0, 1, 2}


def _offsets_over_steps(draw, steps=200):
    """Row and column offsets of `draw(step)` masks, [steps, batch] each."""
    tops, lefts = [], []
    for step in range(steps):
        top, left, _, _ = hole_bbox(draw(step))
        tops.append(top.numpy())
        lefts.append(left.numpy())
    return np.array(tops, np.float64), np.array(lefts, np.float64)


def test_consecutive_steps_draw_independent_hole_offsets():
    """Row and column offsets come from their own random streams: no step's rows repeat the
    previous step's columns (keras' SeedGenerator.next() adds [0, 1] to its state, so drawing
    the columns with `key + [0, 1]` made them the next step's rows)."""
    images = tf.zeros([64, 32, 32, 3])
    maker = HoleMaker(12, seed=0)
    in_model = _offsets_over_steps(lambda step: maker(images))
    # The tf.data path: the pipeline passes the key [seed, batch index].
    in_data = _offsets_over_steps(lambda step: maker(images, seed=tf.constant([0, step], tf.int64)))
    for tops, lefts in (in_model, in_data):
        for a, b in ((tops[1:], lefts[:-1]), (tops, lefts), (lefts[1:], tops[:-1])):
            r = np.corrcoef(a.ravel(), b.ravel())[0, 1]
            assert abs(r) < 0.1, r


def test_every_kind_of_draw_has_its_own_key():
    """Holes, latent noise and flips seeded with the same --seed (their generators hold the same
    state every step) still draw from distinct Philox keys, and the draws are uncorrelated."""
    from tfinpaint import distribute

    streams = (distribute.HOLE_ROW, distribute.HOLE_COLUMN, distribute.HOLE_BANK,
               distribute.LATENT, distribute.FLIP, distribute.STROKES)
    keys = {}
    for step in range(200):
        state = tf.constant([0, step], tf.int64)
        for s in streams:
            keys.setdefault(s, []).append(tuple(distribute.stream_key(state, s).numpy()))
    every = [k for s in streams for k in keys[s]]
    assert len(set(every)) == len(every)  # no key shared between kinds or steps
    uniform = {s: np.array([tf.random.stateless_uniform([64], k).numpy() for k in keys[s]])
               for s in (distribute.HOLE_ROW, distribute.LATENT)}
    r = np.corrcoef(uniform[distribute.HOLE_ROW].ravel(), uniform[distribute.LATENT].ravel())[0, 1]
    assert abs(r) < 0.1, r


def test_kinds_round_trip_through_the_layer_config():
    """A HoleMaker's kind and area are part of its config (a saved model keeps its holes), and a
    kind or area it cannot make is refused when the layer is made."""
    import pytest

    from tfinpaint.data.holes import KINDS

    images = tf.zeros([8, 32, 32, 3])
    for kind in KINDS:
        maker = HoleMaker(12, seed=3, kind=kind, area=(0.2, 0.3))
        again = HoleMaker.from_config(maker.get_config())
        assert (again.kind, again.area) == (kind, (0.2, 0.3))
        key = tf.constant([1, 2])
        np.testing.assert_array_equal(maker(images, seed=key).numpy(), again(images, seed=key).numpy())
    with pytest.raises(ValueError, match="kind must be one of"):
        HoleMaker(12, kind="scribbles")
    with pytest.raises(ValueError, match="kind must be one of"):
        HoleMaker(12, mode="center", kind="strokes")
    with pytest.raises(ValueError, match="area must satisfy"):
        HoleMaker(12, kind="strokes", area=(0.5, 0.2))
