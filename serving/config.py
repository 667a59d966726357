"""The model config: a `--model_config_file`, or `--model_name` with `--model_base_path`, -> the
models to serve ([{"name", "base_path", "policy"}]). It is read with TF Serving's own
`ModelServerConfig` protos (tensorflow-serving-api) and `google.protobuf.text_format`, and checked
as TF Serving's ServerCore checks it, so a file this server accepts is one TF Serving accepts;
what it refuses raises ConfigError."""
import os

from absl import logging
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from tfinpaint import utils


class ConfigError(utils.ConfigError):
    """A model config TF Serving would refuse (the message is the one it gives), or one this
    local server cannot serve. A `tfinpaint.utils.ConfigError` (so a ValueError and a
    UserError): one `except ConfigError` catches the package's and the server's."""


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
