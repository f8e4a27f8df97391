"""A gRPC proxy with a message size limit, in front of a real server, for tests.

Triton 2.51 accepts gRPC messages up to INT32_MAX (2 GiB) and has no option to lower that, so a
"message larger than max" answer does not come from Triton itself in practice: it comes from
what stands in front of it (a gateway, a mesh sidecar, a gRPC proxy whose receive limit is gRPC's
default 4 MiB), or from another V2 server (MLServer's default is 4 MiB). This proxy is that
intermediary: every unary call is forwarded as raw bytes, and gRPC itself refuses requests over
``max_receive_bytes`` with RESOURCE_EXHAUSTED "Received message larger than max (N vs. LIMIT)".

    with GrpcLimitProxy("127.0.0.1:8001", max_receive_bytes=4 * 2**20) as proxy:
        ... proxy.url ...
"""
from __future__ import annotations

import socket
from concurrent import futures

import grpc

GRPC_DEFAULT_MAX_RECEIVE = 4 * 2**20


class _Forward(grpc.GenericRpcHandler):
    def __init__(self, channel: grpc.Channel):
        self._channel = channel

    def service(self, details):
        call = self._channel.unary_unary(details.method)  # no (de)serializers: raw bytes

        def forward(request: bytes, context: grpc.ServicerContext) -> bytes:
            left = context.time_remaining()  # huge (not None) when the caller set no deadline
            try:
                return call(request, timeout=left if left is not None and left < 86400 else None)
            except grpc.RpcError as exc:
                context.abort(exc.code(), exc.details() or "")

        return grpc.unary_unary_rpc_method_handler(forward)


class GrpcLimitProxy:
    def __init__(self, target: str, max_receive_bytes: int = GRPC_DEFAULT_MAX_RECEIVE):
        self.target = target
        self.max_receive_bytes = max_receive_bytes
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._channel = grpc.insecure_channel(target, options=[
            ("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)])
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[
            ("grpc.max_receive_message_length", max_receive_bytes),
            ("grpc.max_send_message_length", -1)])
        self._server.add_generic_rpc_handlers([_Forward(self._channel)])
        self._server.add_insecure_port(f"127.0.0.1:{self.port}")

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> "GrpcLimitProxy":
        self._server.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.stop(grace=None)
        self._channel.close()
