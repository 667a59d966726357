"""The served models: Servable (one loaded SavedModel version, its signatures and its metadata
as TF Serving prints it) and ModelManager (each model's versions as its version policy wants
them). Version folders appearing or disappearing under a model's base path are picked up every
--file_system_poll_wait_seconds without a restart; a version that failed to load is tried again
at every poll and shown in the version status (state END with its error) until it loads."""
import os
import threading

import tensorflow as tf
from absl import logging
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

from serving.errors import RestError
from tfinpaint.export import versions

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
