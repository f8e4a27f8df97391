"""TLS to Triton over gRPC, against a real Triton 2.51 serving TLS with mutual authentication
(certificates made by the dev broker's helper): the right CA and client certificate work; a
missing client certificate, an untrusted CA, or TLS against a plaintext port stop the start at
once with the fix named, instead of waiting out the start-up timeout as if the server were down.
(Triton's HTTP endpoint has no TLS of its own; HTTPS is configured the same way, behind a proxy.)"""
from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from tests.triton_server import CLASSIFIER, running_triton, triton_classifier_server  # noqa: F401
from worker.devkafka import make_certificates
from worker.inference import ModelClient, ModelRoute
from worker.inference.errors import InferenceConfigError

SPEC = {"image": (np.float32, 3)}


@pytest.fixture(scope="module")
def tls_triton(tmp_path_factory):
    certs = make_certificates(tmp_path_factory.mktemp("tls"))
    folder = certs["ca"].parent
    args = ["--grpc-use-ssl=true", f"--grpc-server-cert={folder / 'broker.crt'}",
            f"--grpc-server-key={folder / 'broker.key'}", f"--grpc-root-cert={certs['ca']}",
            "--grpc-use-ssl-mutual=true"]
    other = make_certificates(tmp_path_factory.mktemp("other-ca"))
    with running_triton([CLASSIFIER], extra_args=args) as server:
        yield server, certs, other


def _start(url, **tls):
    route = ModelRoute.from_dict({"url": url, "name": CLASSIFIER.name, "outputs": ["logits"],
                                  "startup_timeout_s": 30, **tls})

    async def go():
        client = ModelClient(route)
        try:
            await client.start(SPEC)
            sample = {"image": np.ones((3, 8, 8), np.float32)}
            return await client.infer([sample])
        finally:
            await client.close()
    t0 = time.monotonic()
    try:
        return asyncio.run(go()), time.monotonic() - t0
    except InferenceConfigError as exc:
        return exc, time.monotonic() - t0


def test_mutual_tls_with_the_right_ca_and_certificate(tls_triton):
    server, certs, _ = tls_triton
    (out,), _ = _start(f"grpcs://{server.grpc_url}", tls_ca_file=str(certs["ca"]),
                       tls_cert_file=str(certs["client_cert"]), tls_key_file=str(certs["client_key"]))
    assert out.ok and out.outputs["logits"].shape == (10,)


@pytest.mark.parametrize("case", ["no client certificate", "untrusted CA"])
def test_tls_mistakes_stop_the_start_at_once_naming_the_fix(tls_triton, case):
    server, certs, other = tls_triton
    tls = {"tls_ca_file": str(certs["ca"])} if case == "no client certificate" else {
        "tls_ca_file": str(other["ca"]), "tls_cert_file": str(certs["client_cert"]),
        "tls_key_file": str(certs["client_key"])}
    err, took = _start(f"grpcs://{server.grpc_url}", **tls)
    assert isinstance(err, InferenceConfigError), err
    assert f"grpcs://{server.grpc_url}" in str(err)
    assert took < 15, f"took {took:.0f}s: it waited as if the server were down"
    if case == "untrusted CA":
        assert "TLS handshake failed" in str(err) and "tls_ca_file" in str(err)
    else:  # TLS 1.3: the server just closes; said after a few closes in a row
        assert "client certificate" in str(err) and "tls_cert_file" in str(err)


def test_tls_against_a_plaintext_port(triton_classifier_server, tls_triton):
    _, certs, _ = tls_triton
    err, took = _start(f"grpcs://{triton_classifier_server.grpc_url}", tls_ca_file=str(certs["ca"]))
    assert isinstance(err, InferenceConfigError), err
    assert "TLS handshake failed" in str(err) and took < 15
