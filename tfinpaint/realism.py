"""Realism and diversity of fills, offline (no downloaded weights), the same code for every method.

Realism: the sliced Wasserstein distance (SWD) between local patches of a Laplacian pyramid,
as Karras et al. (2018, "Progressive Growing of GANs for Improved Quality, Stability, and
Variation", section 5) describe it, written here from the paper's text and adapted to inpainting:

- Pyramid: level 0 is the finest Laplacian band (image minus its blurred, 2x down- and upsampled
  self), ..., the last level is the low-pass Gaussian residual. Burt-Adelson binomial 5-tap
  filter, reflected borders.
- Descriptors: 7x7x3 patches of a level whose centres lie INSIDE the hole (a patch near the hole
  border also covers some known pixels, so seams count). Patches taken anywhere else would
  compare the known surroundings, which are the same for every fill. Which patches are taken
  depends only on the masks (and a fixed seed), so both sets have the same positions and sizes.
- Levels: as many as keep the hole at least `MIN_HOLE_SIDE` pixels wide at that level (12x12
  holes in 32x32 images: 2 levels, 32x32 and 16x16; 32x32 holes in 64x64 faces: 3 levels).
- Normalisation: each colour channel of a level by the REFERENCE (real) set's mean and standard
  deviation, the same numbers for both sets. (Normalising each set by its own statistics would
  divide a blurred fill's small band energy back up and hide the blur.)
- Patches per image and level: at most `PATCHES_PER_IMAGE` centres, a seeded choice among the
  hole pixels (the paper takes 128 per image from 16k large images; here the images are few and
  small, and the floor below is set by the number of images, not of patches).
- Distance: `projections` random unit directions (fixed seed), each set projected and sorted,
  the mean absolute difference of the sorted values (the exact 1-D Wasserstein-1 distance of two
  equally large samples), averaged over directions, then over levels, reported x1e3 (as the
  paper's tables do). Lower is better; 0 is "identical patch distribution".

What to compare against: the protocol's reference set is the test images themselves (the truth
at the same holes). The truth scores exactly 0; what a reader should take as "as real as real"
is the noise floor, the SWD of a second, disjoint sample of real images at the same holes
(`swd(test_images, other_real_images, masks)`, the row `evaluate.REAL`): 22.0 +- 2.5 on the
cars protocol (1000 images; five disjoint train samples), 17.2 +- 2.3 on faces64 (900 images,
32x32 centre holes), see benchmarks/results/realism_anchors.json. The floor grows as the number
of images shrinks (~30 at 400 cars): compare SWDs on the same protocol only. A fill that
reproduces the truth pixel by pixel may score below the floor (it shares the truth's colours at
the coarse level); "at the floor" means "its hole patches look like real patches".

Diversity (methods that sample): the mean over images of the mean pairwise L1 (in [0, 1] units,
over hole pixels and channels) between the K draws of the same image; 0 for a deterministic
method.

Both take uint8 images or floats in [0, 1]; floats are rounded to uint8 first (the protocol
scores uint8-rounded outputs).
"""
import numpy as np

PATCH = 7
PROJECTIONS = 512
MIN_HOLE_SIDE = 6
PATCHES_PER_IMAGE = 32
SEED = 0
SCALE = 1e3

_BINOMIAL = np.array([1, 4, 6, 4, 1], np.float32) / 16


def as_float(images):
    """uint8, or floats in [0, 1] rounded to the uint8 grid (as metrics.to_uint8), -> float32."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = np.floor(np.clip(images, 0.0, 1.0) * 255.0 + 0.5)
    return images.astype(np.float32) / 255.0


def _correlate(x, kernel, axis, step=1):
    """x [N, H, W, C] filtered along one spatial axis (1 = rows, 2 = columns) by an odd-length
    symmetric `kernel`, with reflected borders; only every `step`-th output is computed."""
    r = len(kernel) // 2
    pad = [(0, 0)] * x.ndim
    pad[axis] = (r, r)
    p = np.pad(x, pad, mode="reflect")
    window = [slice(None)] * x.ndim
    out = None
    for i, w in enumerate(kernel):
        window[axis] = slice(i, i + x.shape[axis], step)
        term = w * p[tuple(window)]
        out = term if out is None else out + term
    return out


def downsample(x):
    """The binomial blur kept at even rows and columns."""
    return _correlate(_correlate(x, _BINOMIAL, 1, 2), _BINOMIAL, 2, 2)


def _upsample_axis(x, axis, size):
    """Zero insertion along `axis`, then the binomial filter x2 with reflected borders, written
    in its two phases: even outputs (x[i-1] + 6 x[i] + x[i+1]) / 8, odd ones (x[i] + x[i+1]) / 2,
    where the reflected zero-inserted signal reads x[-1] = x[1] and x[m] = x[m-1]."""
    m = x.shape[axis]
    xp = np.concatenate([np.take(x, [min(1, m - 1)], axis), x, np.take(x, [m - 1], axis)], axis)

    def cut(a):
        window = [slice(None)] * x.ndim
        window[axis] = slice(a, a + m)
        return xp[tuple(window)]

    phases = np.stack([(cut(0) + 6 * cut(1) + cut(2)) / 8, (cut(1) + cut(2)) / 2], axis + 1)
    shape = list(x.shape)
    shape[axis] = 2 * m
    window = [slice(None)] * x.ndim
    window[axis] = slice(0, size)
    return phases.reshape(shape)[tuple(window)]


def upsample(x, shape):
    """Zero insertion then the binomial filter (x4 to keep the brightness), cropped to `shape`."""
    return _upsample_axis(_upsample_axis(x, 1, shape[1]), 2, shape[2])


def laplacian_pyramid(images, levels):
    """float [N, H, W, C] -> `levels` arrays: the Laplacian bands, then the Gaussian residual."""
    out, g = [], images
    for _ in range(levels - 1):
        small = downsample(g)
        out.append(g - upsample(small, g.shape))
        g = small
    out.append(g)
    return out


def hole_pyramid(masks, levels):
    """bool [N, h, w] per level: a pixel of a coarser level is hole if any pixel it covers is."""
    hole = np.asarray(masks)[..., 0] < 0.5
    out = [hole]
    for _ in range(levels - 1):
        h, w = hole.shape[1:]
        hole = np.pad(hole, ((0, 0), (0, h % 2), (0, w % 2)))
        hole = hole.reshape(len(hole), (h + 1) // 2, 2, (w + 1) // 2, 2).any(axis=(2, 4))
        out.append(hole)
    return out


def default_levels(masks, min_side=MIN_HOLE_SIDE):
    """Levels while the (median) hole stays at least `min_side` pixels wide, at least 1."""
    side = np.sqrt(np.median(np.sum(np.asarray(masks)[..., 0] < 0.5, axis=(1, 2))))
    levels = 1
    while side / 2 ** levels >= min_side and min(np.shape(masks)[1:3]) / 2 ** levels >= PATCH:
        levels += 1
    return levels


def patch_centres(hole, per_image=PATCHES_PER_IMAGE, seed=SEED):
    """(n, y, x) index arrays of at most `per_image` hole pixels per image (a seeded choice)."""
    n, y, x = np.nonzero(hole)
    if per_image:
        keys = np.random.default_rng(seed).random(len(n))
        order = np.lexsort((keys, n))  # by image, shuffled within each image
        n, y, x = n[order], y[order], x[order]
        starts = np.searchsorted(n, np.arange(hole.shape[0]))
        rank = np.arange(len(n)) - starts[n]
        keep = rank < per_image
        n, y, x = n[keep], y[keep], x[keep]
    return n, y, x


def extract_patches(level, centres, size=PATCH):
    """[P, C, size, size] patches of `level` [N, h, w, C] centred at `centres` (reflected edges)."""
    r = size // 2
    p = np.pad(level, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(p, (size, size), axis=(1, 2))
    return windows[centres]


def directions(dim, count=PROJECTIONS, seed=SEED):
    """[dim, count] random unit vectors (a fixed seed: the same figure every run)."""
    d = np.random.default_rng(seed).standard_normal((dim, count)).astype(np.float32)
    return d / np.linalg.norm(d, axis=0, keepdims=True)


def sorted_projections(descriptors, dirs):
    """[count, P]: the descriptors [P, D] projected on each direction, sorted."""
    out = dirs.T @ descriptors.T
    out.sort(axis=1)
    return out


def sliced_wasserstein(a, b, projections=PROJECTIONS, seed=SEED):
    """Mean over random unit directions of the 1-D Wasserstein-1 distance of two equally large
    descriptor sets [P, D] projected on them."""
    if len(a) != len(b):
        raise ValueError(f"the two descriptor sets differ in size ({len(a)} vs {len(b)}).")
    d = directions(a.shape[1], projections, seed)
    return _w1(sorted_projections(a, d), sorted_projections(b, d))


def _w1(pa, pb):
    """Mean |pa - pb| of two [count, P] sorted projections (pb is overwritten)."""
    np.subtract(pa, pb, out=pb)
    np.abs(pb, out=pb)
    return float(pb.mean(dtype=np.float64))


class Reference:
    """The real set's side of the SWD, computed once: pyramid levels, patch positions (from the
    masks only), per-channel normalisation and sorted projections of the real patches. Score any
    number of fills at the same holes with `swd(samples)` / `swd_levels(samples)`."""

    def __init__(self, images, masks, levels=None, per_image=PATCHES_PER_IMAGE,
                 projections=PROJECTIONS, seed=SEED):
        images, masks = as_float(images), np.asarray(masks)
        if masks.shape[:3] != images.shape[:3]:
            raise ValueError(f"masks {masks.shape} do not match the images {images.shape}.")
        self.shape = images.shape
        self.levels = levels or default_levels(masks)
        self.centres, self.dirs, self.sorted = [], [], []
        holes = hole_pyramid(masks, self.levels)
        for lvl, (level, hole) in enumerate(zip(laplacian_pyramid(images, self.levels), holes)):
            centres = patch_centres(hole, per_image, seed + lvl)
            self.centres.append(centres)
            if len(centres[0]) == 0:  # no hole at this level: nothing can differ
                self.dirs.append(None), self.sorted.append(None)
                continue
            patches = extract_patches(level, centres)  # [P, C, 7, 7]
            std = patches.std(axis=(0, 2, 3), keepdims=True, dtype=np.float64) + 1e-8
            # Projecting (patch - mean) / std on d is projecting the raw patch on d / std, minus
            # a constant per direction that is the same for both sets and cancels in the
            # sorted differences: so the directions carry the normalisation.
            dirs = directions(patches[0].size, projections, seed + lvl)
            dirs = (dirs.reshape(std.shape[1:] + (-1,)) / std[0, ..., None]).astype(np.float32)
            self.dirs.append(dirs.reshape(patches[0].size, -1))
            self.sorted.append(sorted_projections(patches.reshape(len(patches), -1),
                                                  self.dirs[-1]))

    def swd_levels(self, samples):
        """SWD x1e3 per pyramid level (finest first) of `samples` (the same masks). Lower is
        better; the reference images themselves score 0."""
        samples = as_float(samples)
        if samples.shape != self.shape:
            raise ValueError(f"samples {samples.shape} differ from the reference {self.shape}.")
        out = []
        for lvl, level in enumerate(laplacian_pyramid(samples, self.levels)):
            if self.sorted[lvl] is None:
                out.append(0.0)
                continue
            b = extract_patches(level, self.centres[lvl])
            b = sorted_projections(b.reshape(len(b), -1), self.dirs[lvl])
            out.append(SCALE * _w1(self.sorted[lvl], b))
        return out

    def swd(self, samples):
        """SWD x1e3 averaged over the pyramid levels."""
        return float(np.mean(self.swd_levels(samples)))


def swd_levels(reference, samples, masks, **kwargs):
    """SWD x1e3 per pyramid level (finest first) between the hole patches of `reference` (real
    images) and of `samples` (filled images, the same masks). Lower is better."""
    return Reference(reference, masks, **kwargs).swd_levels(samples)


def swd(reference, samples, masks, **kwargs):
    """SWD x1e3 averaged over pyramid levels; see `Reference`."""
    return Reference(reference, masks, **kwargs).swd(samples)


def gaussian_blur(images, sigma):
    """uint8 or float [0, 1] images [N, H, W, C] -> float [0, 1] blurred by a Gaussian of `sigma`
    pixels (radius 3 sigma, reflected borders): the blurred-truth anchor."""
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    x = as_float(images)
    return _correlate(_correlate(x, k, 1), k, 2)


def diversity(draws, masks):
    """Mean pairwise L1 inside the hole between the K draws [B, K, H, W, 3] of each image
    (uint8 or floats in [0, 1]), averaged over images; 0 for K < 2 or identical draws."""
    draws = as_float(draws)
    b, k = draws.shape[:2]
    if k < 2:
        return 0.0
    hole = (np.asarray(masks)[..., 0] < 0.5).astype(np.float32)  # [B, H, W]
    area = np.maximum(hole.sum(axis=(1, 2)) * draws.shape[-1], 1.0)
    total = np.zeros(b, np.float32)
    for i in range(k):
        for j in range(i + 1, k):
            diff = np.abs(draws[:, i] - draws[:, j]).sum(axis=-1)
            total += (diff * hole).sum(axis=(1, 2)) / area
    return float(np.mean(total / (k * (k - 1) / 2)))
