"""Filling holes in photos of any size in bounded time and memory: fill around each hole region,
not the whole photo (what MI-GAN's pipeline does: crop around the mask, resize to 512, fill,
blend back).

A model is good at one working size and costs time and memory in proportion to the pixels it
processes. So `fill`, instead of running it on the whole photo:
1. `plan`s regions: the connected components of the hole (8-connectivity), each one's bounding
   box grown on every side by a context margin, max(`min_context` px, `context` x the box's longer
   side), so the model sees surroundings in proportion to what it must invent, and clipped to the
   photo (a hole on the border gets less context on that side). Boxes that overlap or touch are
   merged into their bounding box, repeatedly until none do (the bounding box of two merged boxes
   can reach a third), so every hole pixel lies in exactly one crop: no pixel is filled twice,
   from two crops that disagree.
2. Crops the photo and the hole for each region and, if the crop's longer side is over `working`
   px, downscales it (INTER_AREA) to exactly `working` (scale = min(1, working / longer side):
   never upscaled). A working pixel is hole if ANY full-res pixel it covers is hole, so a known
   working pixel averages known pixels only: whatever the hole holds (noise, a sentinel colour)
   never leaks into what the model is told is known.
3. Calls `fill_fn(crop, crop_hole)`, the model (contract in `fill`), on the working crop.
4. Upscales the filled crop to full resolution (INTER_CUBIC) and, with `detail`, adds back the
   photo's own detail near the hole's edge (`_detail`, below).
5. Pastes only hole pixels: known pixels are bit for bit the input's.

Detail. The downscale loses the band between the working and full resolution, so an upscaled fill
is blurrier than the photo around it and the hole's outline would show as a seam. At known pixels
that band is exactly `crop - up` (`up`: the filled working crop upscaled, the same round trip the
fill went through). `_detail` mirrors it into the hole across the hole's edge (each hole pixel
takes the band of its reflection through the nearest known pixel, or of that pixel if the
reflection is hole too) and fades it linearly to zero over DETAIL_REACH working pixels. At the
edge, fill + band then continues the photo's own texture at its own strength (a reflection keeps
the band's energy and lines crossing the edge; a smooth inpaint of it would blur it away), so the
outline does not show; deeper in, where a reflection no longer matches what the model drew, the
fill is the model's own. Texture finer than the working resolution in a big hole's interior is not
invented (that needs the model at full resolution).

Memory and time then depend on the hole, not the photo: `work` reports the budget (regions,
full-res crop pixels, working pixels the model processes), so a server can refuse a request by
the work it asks for rather than by the upload's pixel count. A 12 MP photo with two scratches
costs two small crops; a hole across the whole photo costs one `working`-size model call plus
resampling the photo. What stays in proportion to the photo is cheap bookkeeping: the output copy
and, while planning and pasting, the hole's component labels (int32 per pixel).

Holes here are bool [H, W] arrays, True = hole; `hole_of` converts the project's float32
[H, W, 1] masks (1 = known, 0 = hole). Images are uint8 [H, W, 3].
"""
import dataclasses

import cv2
import numpy as np

WORKING = 768  # longer side of the crop the model fills, in pixels (Kodak: docs/evaluation.md)
CONTEXT = 0.5  # context margin on each side, as a fraction of the hole box's longer side...
MIN_CONTEXT = 32  # ...and at least this many pixels
DETAIL_REACH = 2.0  # working pixels into the hole over which the photo's fine detail fades out


@dataclasses.dataclass(frozen=True)
class Region:
    """One crop filled by one `fill_fn` call: rows top:bottom and columns left:right of the photo
    (ends exclusive), `scale` = working size / crop size (<= 1), and `components`, the labels
    (1..n, as `components` numbers them) of the hole's connected parts it fills."""
    top: int
    left: int
    bottom: int
    right: int
    scale: float
    components: tuple = ()

    @property
    def shape(self):
        """(height, width) of the crop at full resolution."""
        return self.bottom - self.top, self.right - self.left

    @property
    def working_shape(self):
        """(height, width) of the crop `fill_fn` sees: longer side min(working, crop's)."""
        h, w = self.shape
        return max(1, round(h * self.scale)), max(1, round(w * self.scale))

    @property
    def slices(self):
        return slice(self.top, self.bottom), slice(self.left, self.right)


def hole_of(mask):
    """bool [H, W] hole (True = hole) of a project mask, float [H, W, 1] or [H, W] with
    1 = known and 0 = hole."""
    mask = np.asarray(mask)
    return (mask[..., 0] if mask.ndim == 3 else mask) < 0.5


def components(hole):
    """(n, labels int32 [H, W], boxes int [n, 4]) of the hole's 8-connected parts: label 0 is
    known, parts are 1..n, boxes[k - 1] = (top, left, bottom, right) of part k."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    return n - 1, labels, _boxes(stats[1:])


def _boxes(stats):
    """(top, left, bottom, right) rows of cv2 component stats (x, y, width, height, area)."""
    x, y, w, h = (stats[:, i].astype(np.int64) for i in range(4))
    return np.stack([y, x, y + h, x + w], axis=1)


def _grow(boxes, shape, context, min_context):
    """Boxes grown by max(min_context, context x longer side) on every side, clipped to shape."""
    top, left, bottom, right = boxes.T
    margin = np.maximum(min_context, np.ceil(context * np.maximum(bottom - top, right - left)))
    margin = margin.astype(np.int64)
    return np.stack([np.maximum(top - margin, 0), np.maximum(left - margin, 0),
                     np.minimum(bottom + margin, shape[0]), np.minimum(right + margin, shape[1])],
                    axis=1)


def _merge(boxes, shape):
    """(merged, owner): boxes covering `boxes` of which no two overlap or touch, and the index of
    the merged box holding each input box. Paints the boxes and takes the bounding box of each
    connected part of the paint, until that changes nothing; drawing on a canvas (one byte per
    photo pixel) keeps this linear in the number of boxes, whatever the hole."""
    current = boxes
    while True:
        canvas = np.zeros(shape, np.uint8)
        for top, left, bottom, right in current:
            canvas[top:bottom, left:right] = 1
        n, labels, stats, _ = cv2.connectedComponentsWithStats(canvas, connectivity=4)
        merged = _boxes(stats[1:])
        if n - 1 == len(current):  # no two boxes shared a pixel or an edge: done
            return merged, labels[boxes[:, 0], boxes[:, 1]] - 1
        current = merged


def _check_hole(hole, shape=None):
    hole = np.asarray(hole)
    if hole.dtype != bool or hole.ndim != 2:
        raise ValueError(f"hole must be a bool [H, W] array (True = hole), not {hole.dtype} "
                         f"{list(hole.shape)}; hole_of() converts a mask (1 = known, 0 = hole).")
    if shape is not None and hole.shape != tuple(shape):
        raise ValueError(f"hole is {hole.shape[0]}x{hole.shape[1]} (HxW) but the image is "
                         f"{shape[0]}x{shape[1]}; they must be the same size.")
    return hole


def _plan(hole, context, working, merge, min_context):
    """(labels of `components`, regions): `plan`, keeping the labels `fill` pastes by."""
    if working < 1 or context < 0 or min_context < 0:
        raise ValueError(f"need working >= 1, context >= 0, min_context >= 0; got {working}, "
                         f"{context}, {min_context}")
    n, labels, boxes = components(hole)
    if n == 0:
        return labels, []
    grown = _grow(boxes, hole.shape, context, min_context)
    crops, owner = _merge(grown, hole.shape) if merge else (grown, np.arange(n))
    regions = []
    for i, (top, left, bottom, right) in enumerate(crops):
        parts = tuple(int(k) + 1 for k in np.flatnonzero(owner == i))
        scale = min(1.0, working / float(max(bottom - top, right - left)))
        regions.append(Region(int(top), int(left), int(bottom), int(right), scale, parts))
    return labels, regions


def plan(hole, context=CONTEXT, working=WORKING, merge=True, min_context=MIN_CONTEXT):
    """Regions (`Region`, in raster order) filling bool [H, W] `hole` (True = hole): each hole
    part's box grown by max(min_context px, context x its longer side), clipped to the photo,
    overlapping boxes merged (with `merge`; without, one region per part, possibly overlapping),
    scaled so the longer side is at most `working`. No hole, no regions."""
    return _plan(_check_hole(hole), context, working, merge, min_context)[1]


def work(image_shape, hole, working=WORKING, context=CONTEXT, min_context=MIN_CONTEXT,
         merge=True):
    """The budget of filling `hole` in an image of `image_shape` ((H, W) or (H, W, C)), the same
    plan as `fill` with these arguments: {"regions": model calls, "crop_pixels": full-res pixels
    cropped and resampled, "working_pixels": pixels the model processes, "hole_pixels",
    "photo_pixels"}. A server can refuse by these rather than by the upload's size."""
    hole = _check_hole(hole, tuple(image_shape)[:2])
    regions = plan(hole, context, working, merge, min_context)
    return {"regions": len(regions),
            "crop_pixels": sum(int(np.prod(r.shape)) for r in regions),
            "working_pixels": sum(int(np.prod(r.working_shape)) for r in regions),
            "hole_pixels": int(hole.sum()),
            "photo_pixels": hole.size}


def fill(image, hole, fill_fn, working=WORKING, context=CONTEXT, detail=True,
         min_context=MIN_CONTEXT, merge=True):
    """uint8 [H, W, 3] `image` with its `hole` (bool [H, W], True = hole) filled region by region
    (module doc); known pixels are returned bit for bit, hole pixels from the fill.

    fill_fn(crop uint8 [h, w, 3], crop_hole bool [h, w]) -> uint8 [h, w, 3]: the model, called
    once per region with max(h, w) <= working. It must not read the crop's hole pixels (they hold
    whatever `image` has there) and should return known pixels unchanged. Sides that are not a
    multiple of what the model needs are its business (`padded` wraps one that needs 8).
    No hole: `image` is returned (a copy) without calling fill_fn. `detail`: add back the photo's
    fine detail at the hole's edge when a crop was downscaled (module doc)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be uint8 [H, W, 3], not {image.dtype} {list(image.shape)}")
    hole = _check_hole(hole, image.shape[:2])
    labels, regions = _plan(hole, context, working, merge, min_context)
    out = image.copy()
    for region in regions:
        rows, cols = region.slices
        crop_hole = hole[rows, cols]
        filled = _fill_crop(np.ascontiguousarray(image[rows, cols]), crop_hole, fill_fn, region,
                            detail)
        # The region's own hole parts: all of the crop's hole when regions are merged (the
        # default); without merging, a neighbour's part reaching into this crop is left to its own
        # region, so each part is filled from one crop that sees all of it.
        mine = np.isin(labels[rows, cols], region.components)
        out[rows, cols][mine] = filled[mine]
    return out


def _fill_crop(crop, hole, fill_fn, region, detail):
    """uint8 crop (full res) whose hole pixels are `fill_fn`'s fill at the working size."""
    if region.scale >= 1:
        return _call(fill_fn, crop, hole)
    (h, w), (wh, ww) = region.shape, region.working_shape
    small = cv2.resize(crop, (ww, wh), interpolation=cv2.INTER_AREA)
    # INTER_AREA weighs every full-res pixel a working pixel covers (> 0), the same weights for
    # the hole as for the image: > 0 means some hole pixel went into that working pixel.
    small_hole = cv2.resize(hole.astype(np.float32), (ww, wh), interpolation=cv2.INTER_AREA) > 0
    filled = _call(fill_fn, small, small_hole)
    up = cv2.resize(filled.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    if detail:
        up += _detail(crop, hole, up, region.scale)
    return np.clip(np.rint(up), 0, 255).astype(np.uint8)


def _call(fill_fn, crop, hole):
    out = np.asarray(fill_fn(crop.copy(), hole.copy()))
    if out.shape != crop.shape or out.dtype != np.uint8:
        raise ValueError(f"fill_fn returned {out.dtype} {list(out.shape)} for a uint8 "
                         f"{list(crop.shape)} crop; it must return the crop's shape, uint8.")
    return out


def _detail(crop, hole, up, scale):
    """float32 [h, w, 3] to add to `up` (the filled working crop upscaled) for the photo's detail
    above the working resolution: at known pixels crop - up (so up + detail = crop there), at hole
    pixels that band mirrored across the hole's edge and faded linearly to 0 over DETAIL_REACH
    working pixels (module doc). Zero if the crop has no known pixel."""
    if hole.all():
        return np.zeros_like(up)
    reach = DETAIL_REACH / scale  # in full-res pixels
    distance, nearest = cv2.distanceTransformWithLabels(  # nearest: label of the closest known px
        hole.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    weight = np.clip((reach + 1 - distance) / reach, 0, 1)  # 1 at known pixels and the edge
    band = crop.astype(np.float32) - up
    band[hole] = 0
    known = np.flatnonzero(~hole)
    where = np.zeros(nearest.max() + 1, np.int64)  # label -> flat index of its known pixel
    where[nearest.ravel()[known]] = known
    py, px = np.nonzero(hole & (weight > 0))
    ny, nx = np.divmod(where[nearest[py, px]], hole.shape[1])
    ry = np.clip(2 * ny - py, 0, hole.shape[0] - 1)  # p reflected through its nearest known pixel
    rx = np.clip(2 * nx - px, 0, hole.shape[1] - 1)
    inside = hole[ry, rx]
    ry[inside], rx[inside] = ny[inside], nx[inside]
    band[py, px] = band[ry, rx]
    return band * weight[..., None]


def padded(fill_fn, multiple=8):
    """fill_fn for a model whose input sides must be multiples of `multiple`: pads the crop at the
    bottom and right by reflection (reflected hole pixels stay hole), calls `fill_fn` and crops
    its output back. The padded crop can exceed `working` by less than `multiple`."""
    def fill_padded(crop, hole):
        h, w = hole.shape
        dh, dw = -h % multiple, -w % multiple
        if not dh and not dw:
            return fill_fn(crop, hole)
        pad = lambda a: cv2.copyMakeBorder(a, 0, dh, 0, dw, cv2.BORDER_REFLECT)  # noqa: E731
        return np.asarray(fill_fn(pad(crop), pad(hole.astype(np.uint8)) > 0))[:h, :w]
    return fill_padded
