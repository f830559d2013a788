"""Asks the inference service (ChatCompletion over gRPC) to write a notification's narrative."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import grpc
import grpc.aio

from zerog.inference.v1 import inference_service_pb2 as ipb
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog_grpc import TokenMinter, service_channel

if TYPE_CHECKING:
    from zerog.inference.v1.inference_service_pb2_grpc import InferenceServiceAsyncStub

log = logging.getLogger(__name__)

_SYSTEM = (
    "You write short, friendly portfolio notifications for a personal finance app. "
    "Use only the figures and news given; never invent numbers. At most four sentences."
)


class Narrator:
    """A ChatCompletion client that answers None (degraded) instead of raising."""

    def __init__(
        self, address: str, minter: TokenMinter, model: str = "", timeout_seconds: float = 30.0
    ) -> None:
        self._channel = service_channel(address)
        self._stub: InferenceServiceAsyncStub = inference_service_pb2_grpc.InferenceServiceStub(
            self._channel
        )
        self._minter = minter
        self._model = model
        self._timeout = timeout_seconds

    async def narrate(self, request_id: str, user_id: str, facts: str) -> str | None:
        """The model's text about `facts`, or None when inference is unreachable or refuses."""
        request = ipb.ChatCompletionRequest(
            request_id=request_id,
            subject=f"user:{user_id}",
            model=self._model,
            messages=[
                ipb.ChatMessage(role=ipb.CHAT_ROLE_SYSTEM, content=_SYSTEM),
                ipb.ChatMessage(role=ipb.CHAT_ROLE_USER, content=facts),
            ],
            temperature=0.3,
            max_tokens=300,
        )
        try:
            response = await self._stub.ChatCompletion(
                request, metadata=self._minter.metadata("inference", user_id), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as error:
            # The notification still goes out with the computed figures, flagged degraded.
            log.warning(
                "inference failed, sending figures only",
                extra={"code": error.code().name, "request_id": request_id},
            )
            return None
        if not response.choices or not response.choices[0].message.content.strip():
            return None
        return response.choices[0].message.content.strip()

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()
