"""The local server (serving/server.py) against TF Serving's own REST test cases.

Every case below is a request taken from one of TF Serving's tests (tensorflow/serving at commit
9d981c5c, the file and line in the comment or the case's first field) with what TF Serving
answers: the HTTP status (TF Serving's ToHTTPStatusCode: InvalidArgument 400, NotFound 404), the
keys of the JSON answer and the message fragment its test checks (or, for answers, the exact
JSON its test compares). The server is the real one, over HTTP, serving real SavedModels: TF
Serving's test model re-created (half_plus_two: y = 0.5 x + 2, version 123 and 124, under TF
Serving's test name) and a small export of the project's conv model.

Where the tests of json_tensor_test.cc use an int32 or string "default" input, the same request
goes to half_plus_two's float input: the checks they exercise (JSON structure, shapes, sizes,
types) do not depend on the dtype. Requests that the local server answers differently on purpose
(version labels, :classify and :regress are not implemented) are in UNSUPPORTED, with TF
Serving's answer beside ours.
"""
import json
import os
from collections import namedtuple

import numpy as np
import pytest
import requests
import tensorflow as tf

from serving.server import Server

H = "http_rest_api_handler_test.cc"  # tensorflow_serving/model_servers/
J = "json_tensor_test.cc"  # tensorflow_serving/util/
G = "get_model_status_impl_test.cc"  # tensorflow_serving/model_servers/
M = "tensorflow_model_server_test.py"  # tensorflow_serving/model_servers/
NAME = "saved_model_half_plus_two_2_versions"  # kTestModelName (H:55, G:43)
PREDICT = f"/v1/models/{NAME}:predict"
UINT64_MAX = 2**64 - 1  # std::numeric_limits<uint64_t>::max() (H:231)
DEEP = "[" * 500000 + "]" * 500000  # json_req.append(500000, '[') ... (J:95-96, J:112-113)
DBL_MAX, DBL_MIN = 1.7976931348623157e308, 2.2250738585072014e-308  # std::numeric_limits<double>


@pytest.fixture(scope="module")
def server(tmp_path_factory, exported):
    """half_plus_two (versions 123 and 124) served as TF Serving's tests configure it, and the
    project's conv export."""
    base = tmp_path_factory.mktemp("conformance")

    class HalfPlusTwo(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="x")])
        def any_shape(self, x):
            return {"y": 0.5 * x + 2.0}

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def column(self, x):  # the shape of TF Serving's half_plus_two serving_default
            return {"y": 0.5 * x + 2.0}

    module = HalfPlusTwo()
    for version in (123, 124):  # kTestModelVersion1, kTestModelVersion2 (G:45-46)
        tf.saved_model.save(module, str(base / NAME / str(version)), signatures={
            "serving_default": module.any_shape, "x_to_y": module.column})
    half = str(base / NAME)
    configs = [
        {"name": NAME, "base_path": half, "policy": ("specific", [123])},  # H:86-92
        {"name": "default", "base_path": half, "policy": ("specific", [123])},  # M:482
        {"name": "both_versions", "base_path": half, "policy": ("specific", [123, 124])},  # G:64-67
        {"name": "conv", "base_path": os.path.dirname(exported[1]), "policy": ("latest", 1)},
    ]
    with Server(configs, port=0, poll_seconds=0) as s:
        yield s


def call(server, method, path, body=None):
    data = body if body is None or isinstance(body, (str, bytes)) else json.dumps(body)
    return requests.request(method, server.url + path, data=data, timeout=120)


def same_json(got, want):
    """TF Serving's CompareJson for float32 answers: numbers equal as float32 (TF Serving
    prints a float32's shortest text, this server the double it converts to), NaN equal NaN."""
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(
            same_json(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(
            same_json(g, w) for g, w in zip(got, want))
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return np.float32(got) == np.float32(want) or (np.isnan(got) and np.isnan(want))
    return type(got) is type(want) and got == want


def f32(values):
    """What half_plus_two answers in float32, as the nested lists TF Serving prints."""
    return (np.float32(0.5) * np.array(values, np.float32) + np.float32(2)).tolist()


Case = namedtuple("Case", "source method path body status keys expect")
ERROR = {"error"}
STATUS_123 = {"model_version_status": [{"version": "123", "state": "AVAILABLE", "status": {
    "error_code": "OK", "error_message": ""}}]}  # H:459-470, H:480-491, H:501-512, M:539-548
IMAGE, MASK = [[[0.5, 0.5, 0.5]]], [[[1.0]]]  # a 1x1 photo and mask for conv

CASES = [
    # --- paths: HttpRestApiHandlerTest.UnsupportedApiCalls
    Case(f"{H}:183", "GET", "/v1/foo", None, 400, ERROR, "Malformed request"),
    Case(f"{H}:188", "POST", "/v1/foo", None, 400, ERROR, "Malformed request"),
    Case(f"{H}:193", "GET", "/v1/models", None, 400, ERROR, "Missing model name"),
    Case(f"{H}:197", "GET", "/v1/models/debug/model_name", None, 400, ERROR, "Malformed request"),
    Case(f"{H}:202", "POST", "/v1/models", None, 400, ERROR, "Malformed request"),
    Case(f"{H}:207", "GET", "/v1/models/foo:predict", None, 400, ERROR, "Malformed request"),
    Case(f"{H}:212", "GET", "/v1/models/foo/version/50:predict", None, 400, ERROR,
         "Malformed request"),
    Case(f"{H}:217", "POST", "/v1/models/foo/version/50:regress", None, 400, ERROR,
         "Malformed request"),
    Case(f"{H}:222", "POST", "/v1/models/foo/versions/HELLO:regress", None, 400, ERROR,
         "Malformed request"),
    Case(f"{H}:228", "POST", f"/v1/models/foo/versions/{UINT64_MAX}:regress", None, 400, ERROR,
         "Failed to convert version"),
    Case(f"{H}:236", "POST", "/v1/models/foo/metadata", None, 400, ERROR, "Malformed request"),
    Case(f"{H}:241", "POST", "/v1/models/foo/label/some_label:regress", None, 400, ERROR,
         "Malformed request"),
    Case(f"{H}:247", "POST", "/v1/models/foo/versions/50/labels/some_label:regress", None, 400,
         ERROR, "Malformed request"),
    Case(f"{H}:253", "POST", "/v1/models/foo/versions/some_label:regress", None, 400, ERROR,
         "Malformed request"),
    # --- unknown model or version: PredictModelNameVersionErrors (the fragment is TF Serving's
    # message, core/basic_manager.cc:139)
    Case(f"{H}:265", "POST", "/v1/models/foo:predict", '{ "instances": [1] }', 404, ERROR,
         "Servable not found for request: Latest(foo)"),
    Case(f"{H}:271", "POST", "/v1/models/foo/versions/50:predict", '{ "instances": [1] }', 404,
         ERROR, "Servable not found for request: Specific(foo, 50)"),
    Case(f"{H}:277", "POST", f"/v1/models/{NAME}99:predict", '{ "instances": [1] }', 404, ERROR,
         "Servable not found"),
    # --- PredictRequestErrors
    Case(f"{H}:291", "POST", PREDICT, "", 400, ERROR, "JSON Parse error: The document is empty"),
    Case(f"{H}:298", "POST", PREDICT, "instances = [1, 2]", 400, ERROR,
         "JSON Parse error: Invalid value"),
    Case(f"{H}:304", "POST", PREDICT, '{ "instances": ["x", "y"] }', 400, ERROR,
         "not of expected type: float"),
    Case(f"{H}:311", "POST", f"/v1/models/{NAME}/labels/Version_Nonexistent:predict",
         '{ "instances": ["x", "y"] }', 400, ERROR, "Unrecognized servable version label"),
    Case(f"{H}:322", "POST", PREDICT, '{ "signature_name": 100 }', 400, ERROR,
         "'signature_name' key must be a string value."),
    # --- Predict
    Case(f"{H}:335", "POST", PREDICT, '{"instances": [[1.0, 2.0], [3.0, 4.0]]}', 200,
         {"predictions"}, {"predictions": [[2.5, 3.0], [3.5, 4.0]]}),
    Case(f"{H}:345", "POST", f"/v1/models/{NAME}/versions/123:predict",
         '{"instances": [1.0, 2.0]}', 200, {"predictions"}, {"predictions": [2.5, 3.0]}),
    Case(f"{H}:365", "POST", f"/v1/models/{NAME}/versions/123:predict",
         '{"signature_name": "serving_default", "instances": [3.0, 4.0]}', 200, {"predictions"},
         {"predictions": [3.5, 4.0]}),
    Case(f"{H}:376", "POST", f"/v1/models/{NAME}/versions/123:predict",
         '{"signature_name": "serving_default", "inputs": [3.0, 4.0]}', 200, {"outputs"},
         {"outputs": [3.5, 4.0]}),
    # --- GetStatus (a label is not looked at by GetModelStatus: every version's status)
    Case(f"{H}:454", "GET", f"/v1/models/{NAME}", None, 200, {"model_version_status"}, STATUS_123),
    Case(f"{H}:473", "GET", f"/v1/models/{NAME}/versions/123", None, 200,
         {"model_version_status"}, STATUS_123),
    Case(f"{H}:494", "GET", f"/v1/models/{NAME}/labels/Version_Label", None, 200,
         {"model_version_status"}, STATUS_123),
    # --- JsontensorTest
    Case(f"{J}:87", "POST", PREDICT, '{"instances":[1], "nested":' + DEEP + "}", 200,
         {"predictions"}, {"predictions": [2.5]}),
    Case(f"{J}:104", "POST", PREDICT, '{"signature_name":' + DEEP + "}", 400, ERROR,
         "key must be a string value"),
    Case(f"{J}:121", "POST", PREDICT, '{"instances": [1, 2.0, 3, 4, 5.003, 0.007, 0.0]}', 200,
         {"predictions"}, {"predictions": f32([1, 2.0, 3, 4, 5.003, 0.007, 0.0])}),
    Case(f"{J}:190", "POST", PREDICT, '{"instances": [1435774380]}', 200, {"predictions"},
         {"predictions": f32([1435774380])}),
    Case(f"{J}:207", "POST", PREDICT, '{"instances": [1435774380.0]}', 200, {"predictions"},
         {"predictions": f32([1435774380])}),
    Case(f"{J}:231", "POST", PREDICT, f'{{ "instances": [{DBL_MAX!r}] }}', 200, {"predictions"},
         {"predictions": [float("inf")]}),
    Case(f"{J}:246", "POST", PREDICT, f'{{ "instances": [{-DBL_MAX!r}] }}', 200, {"predictions"},
         {"predictions": [float("-inf")]}),
    Case(f"{J}:268", "POST", PREDICT, f'{{ "instances": [{DBL_MIN!r}] }}', 200, {"predictions"},
         {"predictions": [2.0]}),
    Case(f"{J}:454", "POST", PREDICT, '{"instances": [[1.0, NaN], [2.0, Infinity]]}', 200,
         {"predictions"}, {"predictions": [[2.5, float("nan")], [3.0, float("inf")]]}),
    Case(f"{J}:536", "POST", PREDICT, '{"inputs": {"x": [[[1,2],[3,4],[5,6]]]}}', 200,
         {"outputs"}, {"outputs": f32([[[1, 2], [3, 4], [5, 6]]])}),
    Case(f"{J}:565", "POST", PREDICT, '{"inputs": [[[1,2],[3,4],[5,6]]]}', 200, {"outputs"},
         {"outputs": f32([[[1, 2], [3, 4], [5, 6]]])}),
    Case(f"{J}:650", "POST", PREDICT, "", 400, ERROR, "document is empty"),
    Case(f"{J}:654", "POST", PREDICT,
         '{"signature_name": 5, "instances": [[1,2],[3,4],[5,6,7]]}', 400, ERROR,
         "must be a string value"),
    Case(f"{J}:663", "POST", PREDICT,
         '{"instances": [[1,2],[3,4],[5,6,7]], "inputs": [[1,2],[3,4],[5,6,7]]}', 400, ERROR,
         "Not formatted correctly"),
    Case(f"{J}:672", "POST", PREDICT, '{"instances": [[1,2],[3,4],[5,6,7]]}', 400, ERROR,
         "Expecting tensor size"),
    Case(f"{J}:680", "POST", PREDICT, '{"instances": [[1,2],[3,4],[[5,6]]]}', 400, ERROR,
         "Expecting shape"),
    Case(f"{J}:688", "POST", PREDICT, '{"instances": [1, [1]]}', 400, ERROR, "Expecting shape"),
    Case(f"{J}:696", "POST", PREDICT, '{"instances": [[1,2],["a", "b"]]}', 400, ERROR,
         "not of expected type"),
    # MultipleNamedTensorErrors: two named inputs -> conv's image and mask
    Case(f"{J}:718", "POST", "/v1/models/conv:predict", {"instances": [
        {"image": IMAGE, "mask": MASK}, {"image": [IMAGE], "mask": MASK}]}, 400, ERROR,
         "Expecting shape"),
    Case(f"{J}:737", "POST", "/v1/models/conv:predict", {"instances": [
        {"image": IMAGE * 2, "mask": MASK}, {"image": IMAGE, "mask": MASK}]}, 400, ERROR,
         "Expecting tensor size"),
    Case(f"{J}:757", "POST", "/v1/models/conv:predict", {"instances": [
        {"image": IMAGE, "mask": MASK}, [1, 20, 30], {"image": [IMAGE], "mask": MASK}]}, 400,
         ERROR, "Expecting object but got list"),
    Case(f"{J}:781", "POST", PREDICT, '{"instances": [[1.0, 2.0], {"x": [3.0, 4.0]}]}', 400,
         ERROR, "Expecting value/list but got object"),
    # --- GetModelStatusImplTest (the REST request that asks the same)
    Case(f"{G}:105", "GET", "/v1/models/nonexistent_model", None, 404, ERROR,
         "Could not find any versions of model nonexistent_model"),
    Case(f"{G}:121", "GET", f"/v1/models/{NAME}/versions/125", None, 404, ERROR,
         f"Could not find version 125 of model {NAME}"),
    Case(f"{G}:137", "GET", "/v1/models/both_versions", None, 200, {"model_version_status"}, {
        "model_version_status": [{**STATUS_123["model_version_status"][0], "version": v}
                                 for v in ("124", "123")]}),
    Case(f"{G}:163", "GET", "/v1/models/both_versions/versions/123", None, 200,
         {"model_version_status"}, STATUS_123),
    # --- TensorflowModelServerTest
    Case(f"{M}:479", "POST", "/v1/models/default:predict", {"instances": [2.0, 3.0, 4.0]}, 200,
         {"predictions"}, {"predictions": [3.0, 3.5, 4.0]}),
    Case(f"{M}:500", "POST", "/v1/models/default:predict", {"inputs": [2.0, 3.0, 4.0]}, 200,
         {"outputs"}, {"outputs": [3.0, 3.5, 4.0]}),
    Case(f"{M}:521", "GET", "/v1/models/default", None, 200, {"model_version_status"},
         STATUS_123),
]

# What TF Serving answers to these and what the local server answers instead, on purpose: it has
# no version labels and implements :predict only (serving/README.md).
UNSUPPORTED = [
    # TF Serving: 200 {"predictions": [2.5, 3.0]} through the label configured in its test
    Case(f"{H}:355", "POST", f"/v1/models/{NAME}/labels/Version_Label:predict",
         '{"instances": [1.0, 2.0]}', 400, ERROR, "does not support version labels"),
    # TF Serving: 200 {"results": [42]} from the regress_x_to_y signature
    Case(f"{H}:392", "POST", f"/v1/models/{NAME}:regress",
         '{"signature_name": "regress_x_to_y", "examples": [ { "x": 80.0 } ] }', 400, ERROR,
         "only predict"),
    # TF Serving: 200 {"results": [[["", 12]]]} from the classify_x_to_y signature
    Case(f"{H}:428", "POST", f"/v1/models/{NAME}:classify",
         '{"signature_name": "classify_x_to_y", "examples": [ { "x": 20.0 } ] }', 400, ERROR,
         "only predict"),
]


@pytest.mark.parametrize("case", CASES + UNSUPPORTED,
                         ids=[f"{c.source} {c.method} {c.path[:60]}" for c in CASES + UNSUPPORTED])
def test_tf_serving_case(server, case):
    answer = call(server, case.method, case.path, case.body)
    assert answer.status_code == case.status, answer.text[:1000]
    assert answer.headers["Content-Type"] == "application/json"  # H:341-342
    body = answer.json()
    assert set(body) == case.keys, body
    if isinstance(case.expect, str):
        assert case.expect in body["error"], body["error"]
    else:
        assert same_json(body, case.expect), (body, case.expect)


# saved_model_half_plus_two_2_versions_metadata.json (tensorflow_serving/servables/tensorflow/
# testdata/), lines 2-6 and 52-93: what TF Serving answers to H:521 and M:550 for a model whose
# serving_default takes x [-1, 1] and gives y [-1, 1] (the tensor names are the graph's own).
METADATA_MODEL_SPEC = {"name": NAME, "signature_name": "", "version": "123"}
METADATA_X_TO_Y = {
    "inputs": {"x": {"dtype": "DT_FLOAT", "tensor_shape": {
        "dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}], "unknown_rank": False},
        "name": "x:0"}},
    "outputs": {"y": {"dtype": "DT_FLOAT", "tensor_shape": {
        "dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}], "unknown_rank": False},
        "name": "y:0"}},
    "method_name": "tensorflow/serving/predict",
    "defaults": {}}
# lines 96-103: an input of unknown rank
METADATA_UNKNOWN_RANK = {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [], "unknown_rank": True},
                         "name": "x:0"}


def _renamed(signature, names):
    """`signature` with its tensor names replaced by `names` ({"inputs/x": name, ...})."""
    out = json.loads(json.dumps(signature))
    for side in ("inputs", "outputs"):
        for key, info in out[side].items():
            info["name"] = names[f"{side}/{key}"]
    return out


def test_metadata_prints_every_field_as_tf_serving_does(server):
    """H:521 and M:550: the metadata of TF Serving's test model, field for field (TF Serving
    prints with always_print_fields_with_no_presence, http_rest_api_util.cc), and every
    signature def of the model (__saved_model_init_op too, get_model_metadata_impl.cc)."""
    answer = call(server, "GET", f"/v1/models/{NAME}/metadata")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert set(body) == {"model_spec", "metadata"}
    assert body["model_spec"] == METADATA_MODEL_SPEC
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "x_to_y", "__saved_model_init_op"}
    x_to_y = signatures["x_to_y"]
    names = {f"{side}/{k}": v["name"] for side in ("inputs", "outputs")
             for k, v in x_to_y[side].items()}
    assert all(isinstance(n, str) and n.endswith(":0") for n in names.values()), names
    assert x_to_y == _renamed(METADATA_X_TO_Y, names)
    x = signatures["serving_default"]["inputs"]["x"]
    assert x == {**METADATA_UNKNOWN_RANK, "name": x["name"]}
    assert signatures["__saved_model_init_op"]["inputs"] == {}
    assert signatures["__saved_model_init_op"]["defaults"] == {}
    assert call(server, "GET", "/v1/models/default/metadata").json()["metadata"] == body["metadata"]


def test_metadata_of_a_project_export_has_every_default_field(server):
    """The same printing for the conv export: every dim {"size", "name"}, "unknown_rank",
    "dtype", "name" on every tensor, "method_name" and "defaults" on every signature."""
    (status,) = call(server, "GET", "/v1/models/conv").json()["model_version_status"]
    body = call(server, "GET", f"/v1/models/conv/versions/{status['version']}/metadata").json()
    assert body["model_spec"] == {"name": "conv", "signature_name": "",
                                  "version": status["version"]}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "inpaint_bytes", "__saved_model_init_op"} <= set(signatures)
    for signature in signatures.values():
        assert set(signature) == {"inputs", "outputs", "method_name", "defaults"}, signature
        for info in [*signature["inputs"].values(), *signature["outputs"].values()]:
            assert set(info) == {"dtype", "tensor_shape", "name"}, info
            assert set(info["tensor_shape"]) == {"dim", "unknown_rank"}, info
            assert all(set(d) == {"size", "name"} for d in info["tensor_shape"]["dim"]), info
    image = signatures["serving_default"]["inputs"]["image"]["tensor_shape"]
    assert image == {"dim": [{"size": "-1", "name": ""}] * 3 + [{"size": "3", "name": ""}],
                     "unknown_rank": False}


def test_the_server_still_serves_after_the_cases(server):
    answer = call(server, "POST", f"/v1/models/{NAME}:predict", {"instances": [[0.0]]})
    assert answer.status_code == 200 and answer.json() == {"predictions": [[2.0]]}
