"""A gRPC proxy in front of one service that fails chosen methods: every unary call is forwarded
as raw bytes (metadata and deadline kept), except that a method set `down` is refused with
UNAVAILABLE without reaching the service, and one set `lose_answer` reaches it (it acts) and
its answer is replaced by UNAVAILABLE (the caller cannot know it acted)."""

from __future__ import annotations

from typing import Any, Literal

import grpc
import grpc.aio

from zerog_db.cluster import free_port

Fault = Literal["down", "lose_answer"]
ALL = "*"


class GrpcProxy(grpc.GenericRpcHandler):
    """Forwards 127.0.0.1:<port> to `upstream`; `faults` maps a method name ("CommitBatch"),
    or ALL, to its fault."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.faults: dict[str, Fault] = {}
        self.calls: dict[str, int] = {}
        self._server: grpc.aio.Server | None = None
        self._channel: grpc.aio.Channel | None = None

    async def start(self) -> None:
        self._channel = grpc.aio.insecure_channel(self.upstream)
        self._server = grpc.aio.server()
        self._server.add_generic_rpc_handlers((self,))
        self._server.add_insecure_port(self.address)
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(None)
        if self._channel is not None:
            await self._channel.close()

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        path: str = handler_call_details.method
        method = path.rpartition("/")[2]

        async def forward(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            self.calls[method] = self.calls.get(method, 0) + 1
            fault = self.faults.get(method) or self.faults.get(ALL)
            if fault == "down":
                await context.abort(grpc.StatusCode.UNAVAILABLE, "proxy: service down")
            assert self._channel is not None
            call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = self._channel.unary_unary(path)
            remaining = context.time_remaining()
            metadata = tuple(
                (key, value)
                for key, value in context.invocation_metadata() or ()
                if not key.startswith((":", "grpc-")) and key != "user-agent"
            )
            try:
                answer: bytes = await call(request, metadata=metadata, timeout=remaining)
            except grpc.aio.AioRpcError as error:
                await context.abort(error.code(), error.details() or "")
            if fault == "lose_answer":
                await context.abort(grpc.StatusCode.UNAVAILABLE, "proxy: answer lost")
            return answer

        return grpc.unary_unary_rpc_method_handler(forward)
