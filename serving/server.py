"""A local server that speaks TF Serving's REST API, for development and tests.

    python -m serving.server --model_config_file=serving/models.config --base_path_root=.
    python -m serving.server --model_name=ae_patch --model_base_path="$PWD/serving/models/ae_patch"

Production uses TF Serving itself (`tensorflow_model_server` or the `tensorflow/serving` Docker
image, see serving/README.md), which loads the same SavedModels unchanged. This server exists
because that binary cannot be installed from the package registries: it implements, on werkzeug
(Flask's HTTP server), the part of the REST API these models use:

    GET  /v1/models/NAME[/versions/N]              version status
    GET  /v1/models/NAME[/versions/N]/metadata     signature defs
    POST /v1/models/NAME[/versions/N]:predict      "instances" (row) or "inputs" (columnar),
                                                   optional "signature_name"; {"b64": ...} in,
                                                   outputs named *_bytes come back as {"b64": ...}

answered as TF Serving answers them, case for case with its own tests
(tests/test_rest_conformance.py): its path patterns (a malformed /v1/ path is 400 "Malformed
request"), its JSON reading (any depth, without recursion; "JSON Parse error: <rapidjson's
text>"), its steps and messages for instances and inputs, and metadata printed with every
default-valued field. Each TF Serving message may be followed by this server's explanation.

The model config is read with TF Serving's own `ModelServerConfig` protos (tensorflow-serving-api)
and `google.protobuf.text_format`, and checked as TF Serving's ServerCore checks it, so a file
this server accepts is one TF Serving accepts. Version folders appearing or disappearing under a
model's base path are picked up every --file_system_poll_wait_seconds without a restart; a
version that failed to load is tried again at every poll and shown in the version status (state
END with its error) until it loads.

Work is bounded, so that no request can knock the server over:
- each request may hold at most a pixel budget (--max_pixels for models that run at the image's
  size, --max_pixels_resampled for fixed-size ones, --model_max_pixels per model), checked from
  the PNG/JPEG/GIF/BMP headers before anything is decoded: over it, HTTP 413;
- inference runs on --num_workers threads; at most --max_queued_requests more requests wait for
  one; beyond that the answer is 503 with Retry-After at once (TF Serving's batching queue also
  answers "queue full" with UNAVAILABLE);
- at most --max_connections connections are served at once (more wait in the listen backlog), a
  body must arrive within --rest_api_timeout_in_ms (else 408) and be at most --max_request_bytes
  (else 413).
Errors are `{"error": "..."}` with HTTP 400, 404, 408, 413, 503 or 500 (a bug: no request
body or path may cause one).
Not implemented: gRPC, :classify / :regress (400), version labels (a /labels/L path is 400
"Unrecognized servable version label", as TF Serving answers for a label it does not know),
batching.
"""
import base64
import json
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import tfinpaint.quiet  # noqa: F401  (first: TensorFlow's start-up lines)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from google.protobuf import json_format, text_format  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402
from tensorflow_serving.config import model_server_config_pb2  # noqa: E402
from werkzeug.exceptions import ClientDisconnected, HTTPException  # noqa: E402
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

from serving.page import with_page  # noqa: E402
from tfinpaint.data.masks import error_text  # noqa: E402
from tfinpaint.export import versions  # noqa: E402
from tfinpaint.inpaint import (  # noqa: E402
    FULL_SIZE_PIXELS, RESAMPLED_PIXELS, TooManyPixels, check_pixels, image_size)

# TF Serving's own path patterns (http_rest_api_util.cc), matched whole, ignoring case: POST
# takes the first, GET the second; any other /v1/ request is "Malformed request" (400).
PREDICT_PATH = re.compile(r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
                          r":(classify|regress|predict)", re.I | re.A)
STATUS_PATH = re.compile(r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
                         r"(?:/(metadata))?", re.I | re.A)
API_PATH = re.compile(r"/v1/", re.I)  # what TF Serving's REST handler takes ("(?i)/v1/.*")
RETRY_AFTER_SECONDS = 1


class RestError(Exception):
    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class ConfigError(ValueError):
    """A model config TF Serving would refuse (the message is the one it gives), or one this
    local server cannot serve."""


# --- model_config_list ----------------------------------------------------------------------

def _is_relative(path):
    """TF Serving's UriIsRelativePath: no scheme, no host and not an absolute path."""
    return "://" not in path and not path.startswith("/")


def parse_model_config(text, base_path_root=None):
    """A `--model_config_file`'s text -> [{"name", "base_path", "policy"}], read as TF Serving
    reads it: `text_format` into its `ModelServerConfig` proto (a syntax error or an unknown field
    raises ConfigError with text_format's own message), then ServerCore's checks (unique names,
    absolute base paths, the model_type / model_platform rules). `policy` is ("latest", n),
    ("all",) or ("specific", [versions]). `base_path_root` (this server only) reads every
    absolute base path under that folder, as a Docker volume would."""
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise ConfigError(str(e)) from None
    return configs_from_proto(config, base_path_root)


def configs_from_proto(config, base_path_root=None):
    """A ModelServerConfig proto -> [{"name", "base_path", "policy"}] (see parse_model_config)."""
    which = config.WhichOneof("config")
    if which is None:
        return []  # TF Serving: "Taking no action for empty config."
    if which != "model_config_list":
        raise ConfigError("custom_model_config is not supported (TF Serving: \"ModelServer does "
                          "not yet support custom model config.\").")
    configs, names = [], set()
    for model in config.model_config_list.config:
        if model.name in names:
            raise ConfigError(f"Illegal to list model {model.name} multiple times in config list")
        names.add(model.name)
    for model in config.model_config_list.config:
        if _is_relative(model.base_path):
            raise ConfigError(f"Expected model {model.name} to have an absolute path or URI; got "
                              f"base_path()={model.base_path}")
    for model in config.model_config_list.config:
        if _platform(model) != "tensorflow":
            raise ConfigError(f"model {model.name}: platform {_platform(model)!r} is not served "
                              "here (only \"tensorflow\").")
        configs.append({"name": model.name, "base_path": _local_path(model, base_path_root),
                        "policy": _policy(model)})
        if model.version_labels:
            logging.warning("model %s: version_labels are not implemented by this server; "
                            "address versions by number.", model.name)
    return configs


def _platform(model):
    """ServerCore's GetPlatform."""
    if model.model_type != model_server_config_pb2.MODEL_TYPE_UNSPECIFIED:
        if model.model_platform:
            raise ConfigError("Illegal setting both ModelServerConfig::model_type (deprecated) "
                              "and ModelServerConfig::model_platform.")
        if model.model_type != model_server_config_pb2.TENSORFLOW:
            raise ConfigError(f"ModelServerConfig::model_type choice {model.model_type} not "
                              "supported.")
        return "tensorflow"
    if not model.model_platform:
        raise ConfigError("Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
                          "ModelServerConfig::model_platform.")
    return model.model_platform


def _policy(model):
    policy = model.model_version_policy
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return ("all",)
    if kind == "specific":
        return ("specific", sorted(policy.specific.versions))
    return ("latest", max(1, policy.latest.num_versions) if kind == "latest" else 1)


def _local_path(model, root):
    if "://" in model.base_path:
        raise ConfigError(f"model {model.name}: base path {model.base_path!r} is a URI; this "
                          "server reads local folders only.")
    if root is None:
        return model.base_path
    return os.path.join(os.path.abspath(root), model.base_path.lstrip("/"))


def single_model_config(name, base_path):
    """--model_name/--model_base_path, checked as TF Serving checks them."""
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.config.add(name=name, base_path=base_path,
                                        model_platform="tensorflow")
    return configs_from_proto(config)


# --- models -----------------------------------------------------------------------------------

_ERROR_CODES = {getattr(tf.errors, n): n for n in dir(tf.errors)
                if n.isupper() and isinstance(getattr(tf.errors, n), int)}


def _error_code(error):
    """The canonical code name TF Serving reports in a version status."""
    if isinstance(error, tf.errors.OpError):
        return _ERROR_CODES.get(error.error_code, "UNKNOWN")
    if isinstance(error, FileNotFoundError):
        return "NOT_FOUND"
    return "UNKNOWN"


class Servable:
    """One loaded version: its callable signatures and its SignatureDefs (for metadata and input
    checking), read from saved_model.pb as TF Serving reads them."""

    def __init__(self, path):
        self.path = path
        self.loaded = tf.saved_model.load(path)
        proto = saved_model_pb2.SavedModel()
        with open(os.path.join(path, "saved_model.pb"), "rb") as f:
            proto.ParseFromString(f.read())
        graph = next(g for g in proto.meta_graphs if "serve" in g.meta_info_def.tags)
        self.all_signature_defs = dict(graph.signature_def)  # as TF Serving's metadata lists them
        self.signature_defs = {k: v for k, v in graph.signature_def.items()
                               if not k.startswith("__")}

    @property
    def fixed_size(self):
        """True when the model takes images of one size only (it fills a resampled copy)."""
        default = self.signature_defs.get("serving_default")
        image = default.inputs.get("image") if default else None
        if image is None or image.tensor_shape.unknown_rank or len(image.tensor_shape.dim) != 4:
            return False
        return image.tensor_shape.dim[1].size > 0

    def metadata(self):
        """The signature defs as TF Serving prints them: every one (__saved_model_init_op too),
        proto field names, and fields at their default values printed as well (each dim's
        "size" and "name", "unknown_rank": false, "defaults": {})."""
        return {"signature_def": {"signature_def": {
            k: _proto_json(v) for k, v in self.all_signature_defs.items()}}}


def _proto_json(message):
    """MessageToJsonString with TF Serving's options (always_print_fields_with_no_presence,
    preserve_proto_field_names), as a dict."""
    try:
        return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)
    except TypeError:  # protobuf < 5.26 names the option differently
        return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                         including_default_value_fields=True)


class ModelManager:
    """Keeps, for each configured model, the versions its policy wants loaded; `refresh()`
    loads new version folders, retries the ones that failed, and unloads removed ones (called by
    a polling thread). Every shared dict is read and written under `lock`."""

    def __init__(self, configs):
        self.configs = {c["name"]: c for c in configs}
        self.loaded = {name: {} for name in self.configs}  # name -> {version: Servable}
        self.errors = {}  # (name, version) -> (error code, message) of its last failed load
        self.lock = threading.Lock()

    def wanted(self, config):
        found = versions(config["base_path"])
        kind = config["policy"][0]
        if kind == "all":
            return found
        if kind == "specific":
            return [v for v in found if v in config["policy"][1]]
        return found[-config["policy"][1]:]

    def refresh(self):
        for name, config in self.configs.items():
            wanted = self.wanted(config)
            with self.lock:
                missing = [v for v in wanted if v not in self.loaded[name]]
            for v in missing:  # loading takes seconds: not under the lock
                path = os.path.join(config["base_path"], str(v))
                try:
                    servable = Servable(path)
                except Exception as e:  # a broken version must not stop the others
                    error = (_error_code(e), f"{type(e).__name__}: {e}")
                    with self.lock:
                        again = self.errors.get((name, v)) == error
                        self.errors[(name, v)] = error
                    if not again:  # retried at every poll: logged when it changes
                        logging.error("could not load %s version %d (retried at every poll): %s",
                                      name, v, e)
                    continue
                with self.lock:
                    self.loaded[name][v] = servable
                    self.errors.pop((name, v), None)
                logging.info("serving %s version %d from %s", name, v, path)
            with self.lock:
                for v in [v for v in self.loaded[name] if v not in wanted]:
                    del self.loaded[name][v]
                    logging.info("unloaded %s version %d", name, v)
                for key in [k for k in self.errors if k[0] == name and k[1] not in wanted]:
                    del self.errors[key]

    def get(self, name, version=None, label=None):
        """(version, Servable) of `name`: the newest, or version `version` (an int); a version
        label is refused as TF Serving refuses one it does not know (this server has none)."""
        if label is not None:
            raise RestError(400, f"Unrecognized servable version label: {label} (this server does "
                            "not support version labels: address a version by number, "
                            "/versions/N).")
        with self.lock:
            if name not in self.loaded:
                which = f"Latest({name})" if version is None else f"Specific({name}, {version})"
                raise RestError(404, f"Servable not found for request: {which}")
            available = self.loaded[name]
            if version is None:
                if not available:
                    raise RestError(404, f"Servable not found for request: Latest({name})")
                return max(available), available[max(available)]
            if int(version) not in available:
                raise RestError(404, f"Servable not found for request: Specific({name}, {version})")
            return int(version), available[int(version)]

    def status(self, name, version=None):
        with self.lock:
            if name not in self.loaded:
                raise RestError(404, f"Could not find any versions of model {name}")
            states = [(v, "AVAILABLE", "OK", "") for v in self.loaded[name]]
            states += [(v, "END", code, message)
                       for (n, v), (code, message) in self.errors.items() if n == name]
        states.sort(key=lambda s: s[0], reverse=True)  # TF Serving lists the newest first
        if version is not None:
            states = [s for s in states if s[0] == int(version)]
            if not states:
                raise RestError(404, f"Could not find version {version} of model {name}")
        if not states:
            raise RestError(404, f"Could not find any versions of model {name}")
        return {"model_version_status": [
            {"version": str(v), "state": state, "status": {"error_code": code, "error_message": msg}}
            for v, state, code, msg in states]}

    def poll(self, seconds, stop):
        while not stop.wait(seconds):
            try:
                self.refresh()
            except Exception as e:  # keep serving what is loaded
                logging.error("version poll failed: %s", e)


# --- bounded work -----------------------------------------------------------------------------

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


# --- JSON <-> tensors -------------------------------------------------------------------------

# Values nested deeper than this are read (and checked) but not kept: they stand as TOO_DEEP,
# which no input accepts. TF Serving reads any depth without recursion (rapidjson's iterative
# parser) and a tensor has at most 254 dimensions; Python's json module recurses, so a body
# nested deeper than this is read by `_parse_deep` instead.
MAX_JSON_DEPTH = 256


class _TooDeep:
    def __repr__(self):
        return "[...]"


TOO_DEEP = _TooDeep()
_JSON_SPACE = b" \t\n\r"
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_JSON_SPACES = re.compile(rb"[ \t\n\r]*")
_CLOSERS = bytes.maketrans(b"[{", b"]}")
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_JSON_TOKEN = re.compile(rb"""[ \t\n\r]*(?:
      (?P<open>\[(?:[ \t\n\r]*\[)*)                 # a run of '[' is one step
    | (?P<close>[\]}](?:[ \t\n\r]*[\]}])*)          # so is a run of closing brackets
    | (?P<brace>\{) | (?P<colon>:) | (?P<comma>,)
    | (?P<string>"[^"\\]*(?:\\.[^"\\]*)*")
    | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)
    | (?P<literal>true|false|null|NaN|Infinity|-Infinity)
    )""", re.X | re.S)
_LITERALS = {b"true": True, b"false": False, b"null": None, b"NaN": float("nan"),
             b"Infinity": float("inf"), b"-Infinity": float("-inf")}
# rapidjson's own texts (GetParseError_En), which TF Serving's "JSON Parse error: ..." carries
_INVALID_VALUE = "Invalid value."
_MISS_NAME = "Missing a name for object member."
_MISS_COLON = "Missing a colon after a name of object member."
_MISS_OBJECT_COMMA = "Missing a comma or '}' after an object member."
_MISS_ARRAY_COMMA = "Missing a comma or ']' after an array element."
_NOT_SINGULAR = "The document root must not be followed by other values."
_PYTHON_TO_RAPIDJSON = [  # json.JSONDecodeError.msg -> rapidjson's text
    ("Expecting value", _INVALID_VALUE),
    ("Expecting property name", _MISS_NAME),
    ("Expecting ':'", _MISS_COLON),
    ("Unterminated string", "Missing a closing quotation mark in string."),
    ("Invalid control character", "Invalid encoding in string."),
    ("Invalid \\uXXXX", "Incorrect hex digit after \\u escape in string."),
    ("Invalid \\escape", "Invalid escape character in string."),
    ("Extra data", _NOT_SINGULAR),
]


def _json_error(text, offset, detail=""):
    return RestError(400, f"JSON Parse error: {text} at offset: {offset}"
                     + (f" ({detail})" if detail else ""))


def _bracket_depths(data):
    """(brackets outside strings, depth after each), as numpy arrays."""
    if b'"' in data:
        data = _JSON_STRING.sub(b"", data)
    brackets = np.frombuffer(data.translate(None, _NOT_BRACKETS), np.uint8)
    step = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1).astype(np.int32)
    return brackets, np.cumsum(step)


def _nesting(data):
    """How deep a JSON text nests, read before decoding it (strings skipped); a cheap upper
    bound when it has few brackets."""
    opening = data.count(b"[") + data.count(b"{")
    if opening <= MAX_JSON_DEPTH:
        return opening
    return int(_bracket_depths(data)[1].max(initial=0))


def decode_json(data):
    """A request body (bytes) -> its JSON value, or RestError 400 naming the problem as TF
    Serving does ("JSON Parse error: <rapidjson's text> at offset: N", then Python's). Never
    recurses past MAX_JSON_DEPTH, whatever the body."""
    if not data:
        raise RestError(400, "JSON Parse error: The document is empty")
    if not data.strip(_JSON_SPACE):
        raise _json_error("The document is empty.", len(data))
    if _nesting(data) > MAX_JSON_DEPTH:
        return _parse_deep(data)
    try:
        return json.loads(data)
    except UnicodeDecodeError as e:
        raise _json_error("Invalid encoding in string.", e.start, f"the body is not UTF-8: {e}"
                          ) from None
    except json.JSONDecodeError as e:
        offset = len(e.doc[:e.pos].encode("utf-8", "surrogatepass"))
        text = next((t for p, t in _PYTHON_TO_RAPIDJSON if e.msg.startswith(p)), None)
        if data[offset:offset + 1] in (b".", b"e", b"E") and data[offset - 1:offset].isdigit():
            text = ("Miss fraction part in number." if data[offset:offset + 1] == b"."
                    else "Miss exponent in number.")  # "2." or "2e": a number cut short
            offset += 1
        elif text is None and e.msg.startswith("Expecting ','"):
            brackets, depth = _bracket_depths(data[:offset])
            opened = np.flatnonzero(((brackets == ord("[")) | (brackets == ord("{")))
                                    & (depth == (depth[-1] if depth.size else 0)))
            inside = brackets[opened[-1]] if opened.size else ord("[")
            text = _MISS_OBJECT_COMMA if inside == ord("{") else _MISS_ARRAY_COMMA
        raise _json_error(text or _INVALID_VALUE, offset, str(e)) from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise _json_error(_INVALID_VALUE, 0, str(e)) from None


def _parse_deep(data):
    """The JSON value of `data` read without recursion (a stack of open containers, as
    rapidjson's iterative parser reads it), for bodies nested deeper than MAX_JSON_DEPTH: the
    containers below that depth are checked but stand as TOO_DEEP. It accepts what json.loads
    accepts; errors are rapidjson's texts. A run of brackets is one step, so the cost is one
    regular-expression match per token."""
    value_next, value_or_close, key_next, key_or_close, colon_next, after = range(6)
    opening, closing = ord("["), ord("]")
    kinds = bytearray()  # "[" or "{" for every open container
    frames, keys = [], []  # the kept containers (the outer MAX_JSON_DEPTH) and pending keys
    root, started, state, pos = None, False, value_next, 0

    def fail(text, at):
        raise _json_error(text, at)

    def unexpected(at):
        if state in (value_next, value_or_close):
            fail(_INVALID_VALUE, at)
        if state in (key_next, key_or_close):
            fail(_MISS_NAME, at)
        if state == colon_next:
            fail(_MISS_COLON, at)
        if not kinds:
            fail(_NOT_SINGULAR, at)
        fail(_MISS_ARRAY_COMMA if kinds[-1] == opening else _MISS_OBJECT_COMMA, at)

    def attach(value):
        nonlocal root
        if not kinds:
            root = value
        elif len(kinds) <= MAX_JSON_DEPTH:
            if kinds[-1] == opening:
                frames[-1].append(value)
            else:
                frames[-1][keys[-1]] = value

    def push(kind, count):
        while count and len(kinds) <= MAX_JSON_DEPTH:
            if len(kinds) == MAX_JSON_DEPTH:
                attach(TOO_DEEP)
            else:
                container = [] if kind == opening else {}
                attach(container)
                frames.append(container)
                keys.append(None)
            kinds.append(kind)
            count -= 1
        kinds.extend(bytes([kind]) * count)

    while True:
        match = _JSON_TOKEN.match(data, pos)
        if match is None:
            at = _JSON_SPACES.match(data, pos).end()
            if at == len(data):
                if started and not kinds:
                    return root
                if not started:
                    fail("The document is empty.", at)
            elif started and not kinds:
                fail(_NOT_SINGULAR, at)
            elif data[at] == ord('"') and state in (value_next, value_or_close, key_next,
                                                     key_or_close):
                fail("Missing a closing quotation mark in string.", at)
            unexpected(at)
        kind, token, at = match.lastgroup, match[match.lastgroup], match.start(match.lastgroup)
        pos = match.end()
        if started and not kinds:
            fail(_NOT_SINGULAR, at)
        if kind in ("open", "brace"):
            if state not in (value_next, value_or_close):
                unexpected(at)
            started = True
            if kind == "open":
                push(opening, token.count(b"["))
                state = value_or_close
            else:
                push(ord("{"), 1)
                state = key_or_close
        elif kind == "close":
            if not (state == after or (state == value_or_close and token[0] == closing)
                    or (state == key_or_close and token[0] == ord("}"))):
                unexpected(at)
            closers = token.translate(None, _JSON_SPACE)
            count = len(closers)
            if count > len(kinds) or closers != bytes(kinds[-count:])[::-1].translate(_CLOSERS):
                where = [at + i for i, c in enumerate(token) if c in b"]}"]
                for i, c in enumerate(closers):  # the first that does not close its container
                    if i == len(kinds):
                        fail(_NOT_SINGULAR, where[i])
                    top = kinds[len(kinds) - 1 - i]
                    if c != (closing if top == opening else ord("}")):
                        fail(_MISS_ARRAY_COMMA if top == opening else _MISS_OBJECT_COMMA,
                             where[i])
            del frames[min(len(kinds) - count, MAX_JSON_DEPTH):]
            del keys[min(len(kinds) - count, MAX_JSON_DEPTH):]
            del kinds[len(kinds) - count:]
            state = after
        elif kind == "colon":
            if state != colon_next:
                unexpected(at)
            state = value_next
        elif kind == "comma":
            if state != after or not kinds:
                unexpected(at)
            state = key_next if kinds[-1] == ord("{") else value_next
        else:  # a string, a number or a literal
            if kind == "string":
                if state not in (value_next, value_or_close, key_next, key_or_close):
                    unexpected(at)
                try:
                    value = json.loads(token)
                except ValueError as e:  # UnicodeDecodeError too
                    fail(next((t for p, t in _PYTHON_TO_RAPIDJSON
                               if getattr(e, "msg", "").startswith(p)),
                              "Invalid encoding in string."), at)
                if state in (key_next, key_or_close):
                    if len(kinds) <= MAX_JSON_DEPTH:
                        keys[-1] = value
                    state = colon_next
                    continue
            elif state not in (value_next, value_or_close):
                unexpected(at)
            elif kind == "number":
                if data[pos:pos + 1] == b".":
                    fail("Miss fraction part in number.", pos + 1)
                if data[pos:pos + 1] in (b"e", b"E"):
                    fail("Miss exponent in number.", pos + 1)
                try:
                    value = float(token) if token.strip(b"-0123456789") else int(token)
                except ValueError:  # more digits than Python converts
                    fail("Number too big to be stored in double.", at)
            else:
                value = _LITERALS[token]
            started = True
            attach(value)
            state = after


def _json_type(value):
    """rapidjson's name of a JSON value's type (TF Serving's JsonTypeString)."""
    if value is None or isinstance(value, bool):
        return {None: "Null", True: "True", False: "False"}[value]
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list) or value is TOO_DEEP:
        return "Array"
    return "String" if isinstance(value, str) else "Number"


def _debug(value, limit=256):
    """A JSON value as TF Serving quotes it in errors (JsonValueToDebugString): its JSON text,
    cut at 256 bytes. Reads only what it writes, so a huge value costs no more."""
    out, size, stack, closers, first = [], 0, [iter([value])], [""], [True]
    while stack and size < limit:
        try:
            item = next(stack[-1])
        except StopIteration:
            stack.pop()
            first.pop()
            out.append(closers.pop())
            continue
        piece = "" if first[-1] else ","
        first[-1] = False
        if isinstance(item, tuple):  # an object's member
            piece += json.dumps(item[0]) + ":"
            item = item[1]
        if isinstance(item, (list, dict)):
            piece += "[" if isinstance(item, list) else "{"
            stack.append(iter(item) if isinstance(item, list) else iter(item.items()))
            closers.append("]" if isinstance(item, list) else "}")
            first.append(True)
        else:
            piece += "[...]" if item is TOO_DEEP else json.dumps(item)
        out.append(piece)
        size += len(piece)
    return "".join(out)[:limit]


def _is_b64(value):
    """TF Serving's IsValBase64Object: {"b64": "<string>"} and nothing else."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _is_named(value):
    """An instance given as {input name: value} (an object, not a {"b64": ...})."""
    return isinstance(value, dict) and not _is_b64(value)


_TF_TYPE_NAMES = {"float32": "float", "float64": "double", "float16": "half"}  # DataTypeString
_INT_RANGES = {"int64": (-2**63, 2**63), "uint32": (0, 2**32), "uint64": (0, 2**64)}


def _shape_text(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


def _from_json(value, dtype, where):
    """A JSON value (nested lists, {"b64": ...} for strings) -> numpy array of `dtype`, read as
    TF Serving reads it (json_tensor.cc: the shape from the first elements, then every list
    checked against it and every value against the type), with its error texts, then ours."""
    type_name = _TF_TYPE_NAMES.get(dtype.name, dtype.name)
    shape, probe = [], value
    while isinstance(probe, list):
        shape.append(len(probe))
        probe = probe[0] if probe else None
    if probe is TOO_DEEP:
        raise RestError(400, f"{where} is nested deeper than {MAX_JSON_DEPTH} levels (a tensor "
                        "has at most 254 dimensions).")
    rank, flat = len(shape), []
    lo, hi = _INT_RANGES.get(dtype.name, (-2**31, 2**31))  # rapidjson's IsInt by default

    def type_error(v):
        return RestError(400, f"JSON Value: {_debug(v)} Type: {_json_type(v)} is not of expected "
                         f"type: {type_name}")

    def leaf(v):
        if dtype == tf.string:
            if isinstance(v, str):
                try:
                    return v.encode("utf-8")
                except UnicodeEncodeError:
                    raise RestError(400, f"JSON Parse error: The surrogate pair in string is "
                                    f"invalid. ({where}: {_debug(v)})") from None
            if isinstance(v, dict):
                if not _is_b64(v):
                    raise RestError(400, f"JSON Value: {_debug(v)} not formatted correctly for "
                                    f"base64 data ({where}: an object in a tensor must be "
                                    "{\"b64\": \"...\"}).")
                try:
                    return base64.b64decode(v["b64"], validate=True)
                except ValueError:
                    raise RestError(400, f"Unable to base64 decode ({where}: the b64 value is "
                                    "not valid base64).") from None
            raise type_error(v)
        if dtype == tf.bool:
            if isinstance(v, bool):
                return v
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            if dtype.is_floating:
                return v
            if isinstance(v, int) and lo <= v < hi:  # rapidjson: 1.0 is not an integer
                return v
        raise type_error(v)

    def fill(v, level):
        if not isinstance(v, list):
            if v is TOO_DEEP or level != rank:
                raise RestError(400, f"JSON Value: {_debug(v)} found at incorrect level: "
                                f"{level + 1} in the JSON DOM. Expected at level: {rank} ({where} "
                                "is not a rectangular array).")
            flat.append(leaf(v))
            return
        if level >= rank:
            raise RestError(400, f"Encountered list at unexpected level: {level} expected < "
                            f"{rank} ({where} is not a rectangular array).")
        if len(v) != shape[level]:
            raise RestError(400, f"Encountered list at unexpected size: {len(v)} at level: "
                            f"{level} expected size: {shape[level]} ({where} is not a "
                            "rectangular array).")
        if level == rank - 1 and dtype.is_floating and set(map(type, v)) <= {float, int}:
            flat.extend(v)  # the usual innermost list of numbers, checked at C speed
            return
        for x in v:
            fill(x, level + 1)

    fill(value, 0)
    try:
        with np.errstate(over="ignore"):  # past the float32 range: inf, as in TF Serving
            return np.array(flat, dtype=object if dtype == tf.string else dtype.as_numpy_dtype
                            ).reshape(shape)
    except (ValueError, OverflowError, TypeError) as e:
        raise RestError(400, f"{where}: not a {dtype.name} array of shape {shape} ({e}).") from None


def _to_json(name, value):
    """An output value -> JSON; strings of outputs named *_bytes as {"b64": ...}."""
    if isinstance(value, bytes):
        if name.endswith("_bytes"):
            return {"b64": base64.b64encode(value).decode("ascii")}
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.dtype == object:
        return [_to_json(name, v) for v in value]
    return value.tolist()


def parse_request(body, signature_def):
    """A predict body (already parsed JSON) -> ({input name: numpy array}, row_format), read
    as TF Serving's FillPredictRequestFromJson reads it, then checked against the signature."""
    specs = {k: (tf.dtypes.as_dtype(v.dtype), v.tensor_shape) for k, v in signature_def.inputs.items()}
    names = sorted(specs)
    if "instances" in body and "inputs" in body:
        raise RestError(400, f"JSON Value: {_debug(body)} Not formatted correctly expecting only "
                        "one of 'inputs' or 'instances' keys to exist: Not both 'inputs' and "
                        "'instances' can be specified (give rows as 'instances' or named "
                        "columns as 'inputs').")
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list):
            raise RestError(400, f"JSON Value: {_debug(body)} Expecting 'instances' to be an "
                            "list/array")
        if not rows:
            raise RestError(400, f"JSON Value: {_debug(body)} No values in 'instances' array")
        named = _is_named(rows[0])
        if not named and len(names) > 1:
            raise RestError(400, "instances is a plain list, but expecting list of objects as "
                            "multiple input tensors required as per tensorinfo_map (each "
                            f"instance is an object keyed by input name: {', '.join(names)}).")
        columns, first = {n: [] for n in names}, {}

        def add(n, value, prefix):
            try:
                array = _from_json(value, specs[n][0], f"input {n!r}")
                if n in first and first[n].size != array.size:
                    raise RestError(400, f"Expecting tensor size: {first[n].size} but got: "
                                    f"{array.size} (every instance needs the same shape).")
                if n in first and first[n].shape != array.shape:
                    raise RestError(400, f"Expecting shape {_shape_text(first[n].shape)} but "
                                    f"got: {_shape_text(array.shape)} (every instance needs the "
                                    "same shape).")
            except RestError as e:
                raise RestError(e.status, prefix + e.message) from None
            first.setdefault(n, array)
            columns[n].append(array)

        for i, row in enumerate(rows):
            if named:
                if not _is_named(row):
                    raise RestError(400, f"Expecting object but got list at item {i} of input "
                                    "list (the first instance is an object keyed by input "
                                    "name, so every instance must be one).")
                for n, value in row.items():
                    prefix = (f"Failed to process element: {i} key: {n} of 'instances' list. "
                              "Error: INVALID_ARGUMENT: ")
                    if n not in specs:
                        raise RestError(400, f"{prefix}JSON object: does not have named input: "
                                        f"{n} (instance {i}: inputs {sorted(row)} do not match "
                                        f"the signature's {names}).")
                    add(n, value, prefix)
                if set(row) != set(names):
                    raise RestError(400, f"Failed to process element: {i} of 'instances' list. "
                                    f"JSON object: {_debug(row)} keys must be equal to: "
                                    f"{','.join(names)} (instance {i}: inputs {sorted(row)} do "
                                    f"not match the signature's {names}).")
            else:
                if _is_named(row):
                    raise RestError(400, f"Expecting value/list but got object at item {i} of "
                                    "input list (the first instance is a plain value, so every "
                                    "instance must be one).")
                add(names[0], row, f"Failed to process element: {i} of 'instances' list. Error: "
                    "INVALID_ARGUMENT: ")
        tensors = {n: np.stack(columns[n]) for n in names}
        row_format = True
    elif "inputs" in body:
        value = body["inputs"]
        if not isinstance(value, dict) or _is_b64(value):
            if len(names) > 1:
                raise RestError(400, "inputs is a plain value/list, but expecting an object as "
                                "multiple input tensors required as per tensorinfo_map ('inputs' "
                                f"do not match the signature's inputs {names}: give an object "
                                "keyed by input name).")
            value = {names[0]: value}
        for n in names:
            if n not in value:
                raise RestError(400, f"Missing named input: {n} in 'inputs' object. ('inputs' "
                                f"{sorted(value)} do not match the signature's inputs {names}.)")
        tensors = {n: _from_json(value[n], specs[n][0], f"input {n!r}") for n in names}
        row_format = False
    else:
        raise RestError(400, "Missing 'inputs' or 'instances' key")
    for n, array in tensors.items():
        shape = specs[n][1]
        if not shape.unknown_rank:
            want = [d.size for d in shape.dim]
            if array.ndim != len(want) or any(w >= 0 and w != g for w, g in zip(want, array.shape)):
                raise RestError(400, f"input {n!r} has shape {list(array.shape)} but the signature "
                                f"takes {[w if w >= 0 else None for w in want]}.")
        if array.size == 0:
            raise RestError(400, f"input {n!r} is empty.")
    if row_format and len({a.shape[0] for a in tensors.values()}) > 1:
        raise RestError(400, "every input needs one value per instance.")
    return tensors, row_format


def signature_name(body):
    """The signature a parsed predict body asks for, checked as TF Serving checks it before it
    looks the model up: the body is an object, and 'signature_name' (if there) a string."""
    if not isinstance(body, dict):
        raise RestError(400, f"JSON Value: {_debug(body)} Is not object: the request body must "
                        "be a JSON object.")
    name = body.get("signature_name", "")
    if not isinstance(name, str):
        raise RestError(400, f"JSON Value: {_debug(body)} not formatted correctly. "
                        "'signature_name' key must be a string value.")
    return name or "serving_default"


def prepare(servable, body, limit, hint=""):
    """A parsed predict body -> (signature name, {input: numpy array}, row_format), checked
    against the signature and the pixel budget, before any tensor is made."""
    name = signature_name(body)
    if name not in servable.signature_defs or not servable.signature_defs[name].inputs:
        if name in servable.all_signature_defs:  # e.g. __saved_model_init_op: no inputs
            raise RestError(400, f"Failed to get input map for signature: {name}")
        raise RestError(400, f'Serving signature name: "{name}" not found in signature def')
    tensors, row_format = parse_request(body, servable.signature_defs[name])
    check_request_pixels(tensors, limit, hint)
    return name, tensors, row_format


def run(servable, name, tensors, row_format):
    """Runs the signature (on an inference thread) -> the JSON answer (a dict)."""
    function = servable.loaded.signatures[name]
    try:
        outputs = function(**{k: tf.constant(v, dtype=function.structured_input_signature[1][k].dtype)
                              for k, v in tensors.items()})
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
        raise RestError(400, error_text(e)) from None
    outputs = {k: v.numpy() for k, v in outputs.items()}
    if row_format:
        batch = next(iter(outputs.values())).shape[0]
        rows = [{k: _to_json(k, v[i]) for k, v in outputs.items()} for i in range(batch)]
        if len(outputs) == 1:
            rows = [next(iter(r.values())) for r in rows]
        return {"predictions": rows}
    columns = {k: _to_json(k, v) for k, v in outputs.items()}
    return {"outputs": next(iter(columns.values())) if len(columns) == 1 else columns}


# --- HTTP -------------------------------------------------------------------------------------

def read_body(request, max_bytes, seconds):
    """The request body, read within `seconds` in all (408 otherwise) and at most `max_bytes`
    long (413 otherwise), so a slow or endless sender cannot hold a connection for long."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise RestError(413, f"the request body is {request.content_length} bytes, more than "
                        f"the {max_bytes} this server accepts (--max_request_bytes).")
    sock = request.environ.get("werkzeug.socket")
    deadline = time.monotonic() + seconds
    chunks, size = [], 0
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if sock is not None:
                sock.settimeout(left)
            chunk = request.stream.read(1 << 16)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > max_bytes:
                raise RestError(413, f"the request body is more than the {max_bytes} bytes this "
                                "server accepts (--max_request_bytes).")
            chunks.append(chunk)
    except (TimeoutError, ClientDisconnected) as e:
        if isinstance(e, TimeoutError) or isinstance(e.__context__, TimeoutError):
            raise RestError(408, f"the request body did not arrive within {seconds:g} s "
                            f"({size} bytes came; --rest_api_timeout_in_ms).") from None
        raise RestError(400, f"the client closed the connection after {size} bytes of the body."
                        ) from None
    finally:
        if sock is not None:
            sock.settimeout(seconds)  # for writing the answer


def make_app(manager, workers=None, limits=None, max_request_bytes=32 << 20, timeout=30.0):
    """The WSGI application: routes TF Serving's REST paths to `manager`'s models; predict work
    goes through `workers` (bounded) within `limits` (pixel budgets)."""
    workers = workers or Workers()
    limits = limits or Limits()

    def reply(status, payload, headers=None):
        return Response(json.dumps(payload), status=status, mimetype="application/json",
                        headers=headers)

    def predict_route(request, name, version, label):
        data = read_body(request, max_request_bytes, timeout)
        with workers.parsing():  # JSON -> checked numpy inputs; 4xx for anything wrong
            body = decode_json(data)
            del data
            signature_name(body)  # checked before the model is looked up, as TF Serving does
            _, servable = manager.get(name, version, label)
            hint = f" for model {name} ({limits.flag(name, servable)})"
            signature, tensors, row_format = prepare(
                servable, body, limits.budget(name, servable), hint)
            del body
        with workers.admit():  # 503 at once when the inference queue is full
            return reply(200, workers.run(lambda: run(servable, signature, tensors, row_format)))

    def handle(request):
        method, path = request.method, request.path
        if not API_PATH.match(path):
            raise RestError(404, f"Malformed request: {method} {path}")
        route = {"POST": PREDICT_PATH, "GET": STATUS_PATH}.get(method)
        route = route and route.fullmatch(path)
        if not route:
            raise RestError(400, f"Malformed request: {method} {path}")
        name, version, label, verb = route.groups()
        if version is not None:  # TF Serving's SimpleAtoi into an int64
            if len(version.lstrip("0")) > 19 or int(version) >= 2**63:
                raise RestError(400, f"Failed to convert version: {version} to numeric.")
            version = int(version)
        if method == "GET":
            if not name:
                raise RestError(400, "Missing model name in request.")
            if verb == "metadata":  # the path ignores case, the sub-resource does not
                v, servable = manager.get(name, version, label)
                return reply(200, {"model_spec": {"name": name, "signature_name": "",
                                                  "version": str(v)},
                                   "metadata": servable.metadata()})
            return reply(200, manager.status(name, version))  # as in TF Serving, a label is
            # not looked at here: the status of every version
        if verb == "predict":
            return predict_route(request, name, version, label)
        if verb in ("classify", "regress"):
            raise RestError(400, f"{verb} is not supported by this server (only predict).")
        raise RestError(400, f"Malformed request: {method} {path}")  # ":PREDICT"

    @Request.application
    def wsgi(request):
        request.max_content_length = max_request_bytes
        try:
            return handle(request)
        except RestError as e:
            return reply(e.status, {"error": e.message}, e.headers)
        except HTTPException as e:  # e.g. 413 from werkzeug's own body limit
            return reply(e.code, {"error": e.description})
        except Exception as e:  # the server keeps serving whatever one request does
            logging.exception("request failed")
            return reply(500, {"error": f"{type(e).__name__}: {e}"})

    return with_page(wsgi, manager)  # GET / and the page's files: serving/page.py


class HTTPServer(ThreadedWSGIServer):
    """werkzeug's threaded server with at most `max_connections` connections served at once:
    further ones wait in the listen backlog rather than each getting a thread. `timeout`
    (seconds) bounds every read of the request line and headers."""

    daemon_threads = True

    def __init__(self, host, port, app, max_connections=64, timeout=30.0):
        handler = type("Handler", (WSGIRequestHandler,), {"timeout": timeout})
        super().__init__(host, port, app, handler=handler)
        self.connections = threading.BoundedSemaphore(max_connections)
        self.closing = False

    def process_request(self, request, client_address):
        while not self.connections.acquire(timeout=0.5):
            if self.closing:
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.connections.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()


class Server:
    """Loads the models, starts the version poller and the HTTP server.
    Use as a context manager in tests: `with Server(configs, port=0) as s: s.url`."""

    def __init__(self, configs, port=8501, host="127.0.0.1", poll_seconds=1.0,
                 max_request_bytes=32 << 20, limits=None, num_workers=2, max_queued_requests=16,
                 max_connections=64, timeout=30.0):
        self.manager = ModelManager(configs)
        self.manager.refresh()
        self.workers = Workers(num_workers, max_queued_requests, timeout)
        self.http = HTTPServer(host, port, make_app(self.manager, self.workers, limits,
                                                    max_request_bytes, timeout),
                               max_connections, timeout)
        self.url = f"http://{host}:{self.http.server_port}"
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.http.serve_forever, daemon=True)]
        if poll_seconds > 0:
            self.threads.append(threading.Thread(target=self.manager.poll,
                                                 args=(poll_seconds, self.stop), daemon=True))

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def wait(self):
        """Blocks until Ctrl-C, then closes the server."""
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            self.close()

    def close(self):
        self.stop.set()
        self.http.closing = True
        self.http.shutdown()
        self.http.server_close()
        self.workers.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def _per_model(entries):
    """["conv=4000000", ...] -> {"conv": 4000000}."""
    out = {}
    for entry in entries or []:
        name, _, value = entry.partition("=")
        if not name or not value.isdigit() or int(value) < 1:
            raise app.UsageError(f"--model_max_pixels takes NAME=PIXELS entries, got {entry!r}.")
        out[name] = int(value)
    return out


def main(argv):
    del argv
    f = flags.FLAGS
    try:
        if f.model_config_file:
            if f.model_name or f.model_base_path:
                raise app.UsageError("give --model_config_file, or --model_name with "
                                     "--model_base_path.")
            with open(f.model_config_file) as fh:
                try:
                    configs = parse_model_config(fh.read(), f.base_path_root)
                except ConfigError as e:
                    raise ConfigError(f"{f.model_config_file}: {e}") from None
        elif f.model_base_path:
            path = f.model_base_path
            if _is_relative(path):  # TF Serving refuses it; a convenience of this server only
                path = os.path.abspath(path)
                logging.warning("TF Serving refuses a relative --model_base_path; serving %s",
                                path)
            configs = single_model_config(f.model_name or "default", path)
        else:
            raise app.UsageError("give --model_config_file, or --model_name and "
                                 "--model_base_path.")
    except (ConfigError, OSError) as e:
        print(f"serving.server: error: {e}", file=sys.stderr, flush=True)
        return 2
    for c in configs:
        if not os.path.isdir(c["base_path"]):
            logging.warning("model %s: base path %s does not exist yet; polling for it.",
                            c["name"], c["base_path"])
    limits = Limits(f.max_pixels, f.max_pixels_resampled, _per_model(f.model_max_pixels))
    server = Server(configs, f.rest_api_port, f.host, f.file_system_poll_wait_seconds,
                    f.max_request_bytes, limits, f.num_workers, f.max_queued_requests,
                    f.max_connections, f.rest_api_timeout_in_ms / 1000)
    for c in configs:
        with server.manager.lock:
            loaded = sorted(server.manager.loaded[c["name"]])
        print(f"model {c['name']}: versions {loaded or 'none yet'} from {c['base_path']}")
    print(f"REST API on {server.url}/v1/models/<name>[:predict] (Ctrl-C stops)", flush=True)
    server.start().wait()
    return 0


def define_flags():
    flags.DEFINE_string("model_config_file", None, "TF Serving ModelServerConfig text proto.")
    flags.DEFINE_string("base_path_root", None, "Read the config's absolute base paths under "
                        "this folder, as a Docker volume would (e.g. `.` serves "
                        "/serving/models/NAME from ./serving/models/NAME). This server only.")
    flags.DEFINE_string("model_name", None, "Name of the one model (with --model_base_path).")
    flags.DEFINE_string("model_base_path", None, "Path of the one model's version folders "
                        "(TF Serving wants it absolute; this server makes it so, with a warning).")
    flags.DEFINE_integer("rest_api_port", 8501, "HTTP port (TF Serving's default REST port).",
                         lower_bound=0, upper_bound=65535)
    flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0: every interface).")
    flags.DEFINE_float("file_system_poll_wait_seconds", 1.0, "How often new or removed version "
                       "folders are picked up, and failed ones retried (0: never).",
                       lower_bound=0.0)
    flags.DEFINE_integer("max_request_bytes", 32 << 20, "Larger request bodies get HTTP 413.",
                         lower_bound=1)
    flags.DEFINE_integer("max_pixels", FULL_SIZE_PIXELS, "Pixels per request for models that "
                         "run at the image's own size (memory grows with the area); more: 413.",
                         lower_bound=1)
    flags.DEFINE_integer("max_pixels_resampled", RESAMPLED_PIXELS, "Pixels per request for "
                         "fixed-size models (they fill a resampled copy); more: 413.",
                         lower_bound=1)
    flags.DEFINE_list("model_max_pixels", [], "Per-model pixel budgets, NAME=PIXELS,... "
                      "(instead of the two above).")
    flags.DEFINE_integer("num_workers", 2, "Inference threads (requests computed at once).",
                         lower_bound=1)
    flags.DEFINE_integer("max_queued_requests", 16, "Requests that may wait for an inference "
                         "thread; more get 503 with Retry-After at once.", lower_bound=0)
    flags.DEFINE_integer("max_connections", 64, "Connections served at once; more wait in the "
                         "listen backlog.", lower_bound=1)
    flags.DEFINE_integer("rest_api_timeout_in_ms", 30000, "A request must arrive within this "
                         "(else 408), and may wait this long for an inference thread (else 503).",
                         lower_bound=1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
