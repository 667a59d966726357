"""Bounded work, so that no request can knock the server over:
- Limits: each request may hold at most a pixel budget (--max_pixels for models that run at the
  image's size, --max_pixels_resampled for fixed-size ones, --model_max_pixels per model), checked
  by check_request_pixels from the PNG/JPEG/GIF/BMP/WebP headers before anything is decoded:
  over it, HTTP 413;
- Workers: inference runs on --num_workers threads; at most --max_queued_requests more requests
  wait for one; beyond that the answer is 503 with Retry-After at once (TF Serving's batching
  queue also answers "queue full" with UNAVAILABLE).
The connection and body limits are the HTTP server's (serving/server.py)."""
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from serving.errors import RestError
from tfinpaint.inpaint import (FULL_SIZE_PIXELS, RESAMPLED_PIXELS, TooManyPixels, check_pixels,
                               image_size)

RETRY_AFTER_SECONDS = 1


class Limits:
    """Per-request pixel budgets: `full_size` for models that run at the image's own size (cost
    grows with the area), `resampled` for fixed-size models, `per_model` ({name: pixels})
    overriding both."""

    def __init__(self, full_size=FULL_SIZE_PIXELS, resampled=RESAMPLED_PIXELS, per_model=None):
        self.full_size, self.resampled = full_size, resampled
        self.per_model = dict(per_model or {})

    def budget(self, name, servable):
        if name in self.per_model:
            return self.per_model[name]
        return self.resampled if servable.fixed_size else self.full_size

    def flag(self, name, servable):
        if name in self.per_model:
            return f"--model_max_pixels={name}=..."
        return "--max_pixels_resampled" if servable.fixed_size else "--max_pixels"


def check_request_pixels(tensors, limit, hint=""):
    """Refuses (413) a request whose images hold more than `limit` pixels in all: encoded images
    (string inputs named *_bytes) by their headers, before anything is decoded; float images
    ([N, H, W, C] inputs) by their shape; times `samples` when the signature draws several. An
    instance counts its largest input (an image and its mask are the same pixels)."""
    samples = 1
    if "samples" in tensors and tensors["samples"].size == 1:
        samples = max(1, int(tensors["samples"].reshape(-1)[0]))
    largest = {}  # instance -> (pixels, what, width, height)
    for name, array in sorted(tensors.items()):
        sizes = []
        if array.dtype == object and name.endswith("_bytes") and array.ndim == 1:
            sizes = [image_size(d) if isinstance(d, bytes) else None for d in array]
        elif array.ndim == 4 and array.dtype.kind == "f":
            sizes = [(array.shape[2], array.shape[1])] * array.shape[0]
        for i, size in enumerate(sizes):
            if size is not None and size[0] * size[1] >= largest.get(i, (-1,))[0]:
                largest[i] = (size[0] * size[1], f"{name}[{i}]", *size)
    try:
        for _, what, width, height in largest.values():  # one image alone over the budget
            check_pixels(what, width, height, limit, samples, hint)
    except TooManyPixels as e:
        raise RestError(413, str(e)) from None
    total = sum(p for p, *_ in largest.values()) * samples
    if total > limit:
        each = f" ({samples} samples each)" if samples > 1 else ""
        raise RestError(413, f"the request's {len(largest)} images have {total:,} pixels in all"
                        f"{each}, more than the {limit:,} pixels allowed per request{hint}.")


class Workers:
    """A fixed number of inference threads and a bounded number of requests waiting for them.
    `admit()` is held from the moment a checked request joins the queue until its answer is
    written; when `workers + max_queued` requests hold it already, the request is refused at
    once with 503 and Retry-After instead of piling up. `parsing()` lets at most `workers + 1`
    requests parse their JSON at once (that memory grows with the body), waiting for a turn up to
    `queue_timeout` seconds; so a malformed or oversized request still gets its 4xx quickly while
    the inference queue is full."""

    def __init__(self, workers=2, max_queued=16, queue_timeout=30.0):
        self.workers, self.max_queued, self.queue_timeout = workers, max_queued, queue_timeout
        self.slots = threading.BoundedSemaphore(workers + max_queued)
        self.parsers = threading.BoundedSemaphore(workers + 1)
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="inference")

    class _Slot:
        def __init__(self, semaphore):
            self.semaphore = semaphore

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.semaphore.release()

    def _busy(self, what):
        return RestError(503, f"the server is busy: {what}; retry after {RETRY_AFTER_SECONDS} s.",
                         {"Retry-After": str(RETRY_AFTER_SECONDS)})

    def parsing(self):
        if not self.parsers.acquire(timeout=self.queue_timeout):
            raise self._busy(f"no turn to read the request within {self.queue_timeout:g} s")
        return self._Slot(self.parsers)

    def admit(self):
        if not self.slots.acquire(blocking=False):
            raise self._busy(f"{self.workers} requests are running and {self.max_queued} waiting "
                             "(--num_workers, --max_queued_requests)")
        return self._Slot(self.slots)

    def run(self, fn):
        """fn() on an inference thread; 503 if it waited longer than `queue_timeout` to start."""
        future = self.pool.submit(fn)
        try:
            return future.result(timeout=self.queue_timeout)
        except FutureTimeout:
            if future.cancel():
                raise self._busy(f"the request waited {self.queue_timeout:g} s for an inference "
                                 "thread") from None
            return future.result()  # running already: its pixel budget bounds it

    def close(self):
        self.pool.shutdown(wait=False, cancel_futures=True)
