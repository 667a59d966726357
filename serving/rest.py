"""Predict requests, JSON <-> tensors, as TF Serving reads and answers them (case for case with
its own tests, tests/test_rest_conformance.py): its JSON reading (any depth, without recursion;
"JSON Parse error: <rapidjson's text>"), its steps and messages for "instances" (row) and
"inputs" (columnar) bodies (json_tensor.cc), the signature's inputs checked and the pixel budget
applied (`prepare`), then the signature run and its outputs written as JSON, {"b64": ...} for
outputs named *_bytes (`run`). Each TF Serving message may be followed by this server's
explanation."""
import base64
import json
import re

import numpy as np
import tensorflow as tf

from serving.errors import RestError
from serving.limits import check_request_pixels
from tfinpaint.data.masks import error_text

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
