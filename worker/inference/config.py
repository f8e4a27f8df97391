"""The ``model`` table of a route: which model to call, how, and what to do with the answer.

Example (TOML)::

    [routes.classify.model]
    url = "triton:8001"            # host:port; "http://host:8000" picks the HTTP protocol
    name = "resnet50"
    version = ""                   # "" = the server's choice
    inputs = { images = "input__0" }   # pipeline output -> model input (default: same names)
    outputs = ["logits"]           # requested outputs (default: all the model has)
    top_k = 5                      # classifiers: top-k labels of `classify_output`
    labels_file = "labels.txt"     # one label per line, line i = class i
    ragged = "pad"                 # ragged samples: "pad" to one shape, or "per_sample" requests
    max_retry_s = 300              # retry budget while the server is down; 0 = retry forever
    shared_memory = "auto"         # inputs through system shared memory when the server is local
    # TLS: url = "grpcs://triton:8001"; tls_ca_file = "ca.pem"; tls_cert_file/tls_key_file (mTLS)

``mode = "dali_backend"`` sends the encoded inputs to a DALI model in Triton instead (hosts
without a local GPU); ``inputs`` then maps the worker's encoded fields to that model's inputs.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.inference.errors import InferenceConfigError

PROTOCOLS = ("grpc", "http")
MODES = ("tensors", "dali_backend")
RAGGED = ("per_sample", "pad")
SHARED_MEMORY = ("auto", "system", "off")


@dataclass(frozen=True)
class ModelRoute:
    url: str
    name: str
    protocol: str = "grpc"
    version: str = ""
    mode: str = "tensors"
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    top_k: int = 0
    classify_output: str | None = None
    labels_file: str | None = None
    ragged: str = "per_sample"
    pad_value: float = 0.0
    # Used only when the server does not report the model's max_batch_size (MLServer has no
    # model-config endpoint); with Triton the smaller of the two wins.
    max_batch_size: int | None = None
    timeout_s: float = 30.0
    # How long one batch may keep failing with "server down" before its messages are dead-
    # lettered as model_unavailable. Nothing is committed meanwhile. 0 = retry forever.
    max_retry_s: float = 300.0
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 5.0
    # How long start() waits for the server and model to become ready.
    startup_timeout_s: float = 60.0
    # Requests of one infer() call in flight at once (after splitting a batch).
    max_in_flight: int = 4
    # Request inputs through system shared memory (worker/inference/shm.py): "auto" when the
    # server is on this host and offers it, "system" whenever it offers it, "off" never.
    shared_memory: str = "auto"
    # TLS to the server: on with a grpcs:// or https:// url, or any tls_* file. The CA that
    # signed the server's certificate (default: the system's), and a client certificate and key
    # for servers that require one (mutual TLS). Hostname checks stay on.
    tls: bool = False
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    where: str = "model"

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, where: str = "model") -> "ModelRoute":
        if not isinstance(d, dict):
            raise InferenceConfigError(f"{where}: expected a table, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)} - {"where"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InferenceConfigError(
                f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")
        for key in ("url", "name"):
            if not isinstance(d.get(key), str) or not d[key].strip():
                raise InferenceConfigError(f"{where}.{key}: required, a non-empty string")
        url, protocol, secure = _split_url(d["url"], d.get("protocol"), where)
        values: dict[str, Any] = {"url": url, "protocol": protocol, "where": where,
                                  "name": d["name"].strip()}
        values["version"] = _str(d, "version", "", where)
        values["mode"] = _choice(d, "mode", "tensors", MODES, where)
        # Triton's DALI backend documents zero-padded encoded inputs; tensors default to one
        # request per distinct shape, which changes no result
        default_ragged = "pad" if values["mode"] == "dali_backend" else "per_sample"
        values["ragged"] = _choice(d, "ragged", default_ragged, RAGGED, where)
        inputs = d.get("inputs", {})
        if not isinstance(inputs, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and v for k, v in inputs.items()):
            raise InferenceConfigError(
                f"{where}.inputs: a table of pipeline output = model input names, got {inputs!r}")
        if len(set(inputs.values())) != len(inputs):
            raise InferenceConfigError(f"{where}.inputs: two pipeline outputs feed one model input")
        values["inputs"] = dict(inputs)
        outputs = d.get("outputs", [])
        if isinstance(outputs, str) or not all(isinstance(o, str) and o for o in outputs):
            raise InferenceConfigError(f"{where}.outputs: a list of output names, got {outputs!r}")
        values["outputs"] = tuple(outputs)
        values["top_k"] = _int(d, "top_k", 0, where, minimum=0)
        values["classify_output"] = _opt_str(d, "classify_output", where)
        values["labels_file"] = _opt_str(d, "labels_file", where)
        if values["labels_file"] and not Path(values["labels_file"]).is_file():
            raise InferenceConfigError(
                f"{where}.labels_file: {values['labels_file']} is not a file "
                "(one label per line; line i names class i)")
        if (values["labels_file"] or values["classify_output"]) and not values["top_k"]:
            raise InferenceConfigError(f"{where}: labels_file/classify_output need top_k >= 1")
        pad = d.get("pad_value", 0.0)
        if isinstance(pad, bool) or not isinstance(pad, (int, float)) or not math.isfinite(pad):
            raise InferenceConfigError(f"{where}.pad_value: expected a finite number, got {pad!r}")
        if values["mode"] == "dali_backend" and pad != 0:
            raise InferenceConfigError(f"{where}.pad_value: encoded inputs to a DALI model are "
                                       "padded with zeros (its decoders skip trailing zeros)")
        values["pad_value"] = float(pad)
        mbs = d.get("max_batch_size")
        values["max_batch_size"] = None if mbs is None else _int(d, "max_batch_size", 0, where,
                                                                 minimum=1)
        values["timeout_s"] = _float(d, "timeout_s", 30.0, where, positive=True)
        values["max_retry_s"] = _float(d, "max_retry_s", 300.0, where)
        values["backoff_initial_s"] = _float(d, "backoff_initial_s", 0.1, where, positive=True)
        values["backoff_max_s"] = _float(d, "backoff_max_s", 5.0, where, positive=True)
        if values["backoff_max_s"] < values["backoff_initial_s"]:
            raise InferenceConfigError(f"{where}.backoff_max_s must be >= backoff_initial_s")
        values["startup_timeout_s"] = _float(d, "startup_timeout_s", 60.0, where, positive=True)
        values["max_in_flight"] = _int(d, "max_in_flight", 4, where, minimum=1)
        values["shared_memory"] = _choice(d, "shared_memory", "auto", SHARED_MEMORY, where)
        for key in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
            values[key] = _opt_str(d, key, where)
            if values[key] and not Path(values[key]).is_file():
                raise InferenceConfigError(f"{where}.{key}: {values[key]} is not a file (PEM)")
        if bool(values["tls_cert_file"]) != bool(values["tls_key_file"]):
            raise InferenceConfigError(f"{where}: tls_cert_file and tls_key_file go together "
                                       "(the client certificate and its private key, PEM)")
        tls = d.get("tls", None)
        if tls is not None and not isinstance(tls, bool):
            raise InferenceConfigError(f"{where}.tls: expected true or false, got {tls!r}")
        values["tls"] = bool(tls or secure or values["tls_ca_file"] or values["tls_cert_file"])
        if tls is False and values["tls"]:
            raise InferenceConfigError(f"{where}: tls = false contradicts a {'grpcs/https url' if secure else 'tls_* file'}")
        return cls(**values)

    @property
    def model_ref(self) -> str:
        """'name' or 'name:version' at 'protocol://url', for messages."""
        v = f":{self.version}" if self.version else ""
        scheme = {"grpc": "grpcs", "http": "https"}[self.protocol] if self.tls else self.protocol
        return f"model '{self.name}{v}' at {scheme}://{self.url}"


_SCHEMES = {"grpc": ("grpc", False), "grpcs": ("grpc", True), "http": ("http", False),
            "https": ("http", True)}


def _split_url(url: str, protocol: Any, where: str) -> tuple[str, str, bool]:
    """(host:port, protocol, TLS asked by the scheme)."""
    url = url.strip()
    scheme, secure = None, False
    if "://" in url:
        given, url = url.split("://", 1)
        if given not in _SCHEMES:
            raise InferenceConfigError(
                f"{where}.url: scheme {given!r} not supported; use grpc://, grpcs:// (TLS), "
                "http:// or https:// (TLS) followed by host:port")
        scheme, secure = _SCHEMES[given]
    url = url.rstrip("/")
    host, _, port = url.rpartition(":")
    if not host or not port.isdigit() or "/" in url:
        raise InferenceConfigError(
            f"{where}.url: {url!r} is not host:port (e.g. 'localhost:8001' for gRPC, "
            "'http://localhost:8000' for HTTP)")
    if protocol is not None and protocol not in PROTOCOLS:
        raise InferenceConfigError(f"{where}.protocol: {protocol!r} is not one of {PROTOCOLS}")
    if protocol and scheme and protocol != scheme:
        raise InferenceConfigError(
            f"{where}: url scheme {scheme!r} contradicts protocol {protocol!r}")
    return url, protocol or scheme or "grpc", secure


def _str(d, key, default, where) -> str:
    v = d.get(key, default)
    if isinstance(v, int) and not isinstance(v, bool) and key == "version":
        v = str(v)  # version = 1 in TOML is natural
    if not isinstance(v, str):
        raise InferenceConfigError(f"{where}.{key}: expected a string, got {v!r}")
    return v


def _opt_str(d, key, where) -> str | None:
    v = d.get(key)
    if v is not None and (not isinstance(v, str) or not v):
        raise InferenceConfigError(f"{where}.{key}: expected a non-empty string, got {v!r}")
    return v


def _choice(d, key, default, choices, where) -> str:
    v = d.get(key, default)
    if v not in choices:
        raise InferenceConfigError(f"{where}.{key}: {v!r} is not one of {list(choices)}")
    return v


def _int(d, key, default, where, minimum: int) -> int:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise InferenceConfigError(f"{where}.{key}: expected an integer >= {minimum}, got {v!r}")
    return v


def _float(d, key, default, where, positive: bool = False) -> float:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 \
            or (positive and v == 0):
        bound = "> 0" if positive else ">= 0"
        raise InferenceConfigError(f"{where}.{key}: expected a number {bound}, got {v!r}")
    return float(v)
