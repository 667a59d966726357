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
(tests/test_rest_conformance.py). This module is the HTTP part: TF Serving's path patterns (a
malformed /v1/ path is 400 "Malformed request"), the routes, the HTTP server, its flags and
`main`. The other parts, whose names can still be imported from here:

    serving/config.py   the model config, read and checked as TF Serving's ServerCore does
    serving/models.py   the loaded versions (Servable, ModelManager), polled for new ones
    serving/limits.py   bounded work: pixel budgets (Limits, 413), inference threads (Workers, 503)
    serving/rest.py     predict bodies, JSON <-> tensors, with TF Serving's steps and messages
    serving/errors.py   RestError, an answer other than 200

Work is bounded, so that no request can knock the server over: besides the pixel budgets and the
inference queue (serving/limits.py), at most --max_connections connections are served at once
(more wait in the listen backlog), a body must arrive within --rest_api_timeout_in_ms (else 408)
and be at most --max_request_bytes (else 413).
Errors are `{"error": "..."}` with HTTP 400, 404, 408, 413, 503 or 500 (a bug: no request
body or path may cause one).
Not implemented: gRPC, :classify / :regress (400), version labels (a /labels/L path is 400
"Unrecognized servable version label", as TF Serving answers for a label it does not know),
batching.
"""
import json
import os
import re
import sys
import threading
import time

import tfinpaint.quiet  # noqa: F401  (first: TensorFlow's start-up lines)

from absl import app, flags, logging  # noqa: E402
from werkzeug.exceptions import ClientDisconnected, HTTPException  # noqa: E402
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

# The other parts' names used here; ConfigError, parse_model_config, Limits, Workers and
# ModelManager are also imported from here (tests, tfinpaint.cli).
from serving.config import (  # noqa: E402
    ConfigError, _is_relative, parse_model_config, single_model_config)
from serving.errors import RestError  # noqa: E402
from serving.limits import Limits, Workers  # noqa: E402
from serving.models import ModelManager  # noqa: E402
from serving.page import with_page  # noqa: E402
from serving.rest import decode_json, prepare, run, signature_name  # noqa: E402
from tfinpaint.inpaint import FULL_SIZE_PIXELS, RESAMPLED_PIXELS  # noqa: E402

# TF Serving's own path patterns (http_rest_api_util.cc), matched whole, ignoring case: POST
# takes the first, GET the second; any other /v1/ request is "Malformed request" (400).
PREDICT_PATH = re.compile(r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
                          r":(classify|regress|predict)", re.I | re.A)
STATUS_PATH = re.compile(r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
                         r"(?:/(metadata))?", re.I | re.A)
API_PATH = re.compile(r"/v1/", re.I)  # what TF Serving's REST handler takes ("(?i)/v1/.*")


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
