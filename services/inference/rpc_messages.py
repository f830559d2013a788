"""SendChatMessage and StreamChatMessage: one request_id record, the answer stored once."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.inference import conversation
from services.inference.chat import ChatOutcome
from services.inference.deps import Context, Deps, last
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_db import Claim
from zerog_grpc import Rpcs


class MessageRpcs(Rpcs[Deps]):
    """Talking in a session, unary or streamed; a retried request_id replays the answer."""

    async def SendChatMessage(
        self, request: pb.SendChatMessageRequest, context: Context
    ) -> pb.SendChatMessageResponse:
        return await last(self._exchange(request, context, stream=False))

    async def StreamChatMessage(
        self, request: pb.StreamChatMessageRequest, context: Context
    ) -> AsyncIterator[pb.StreamChatMessageResponse]:
        async for event in self._exchange(request.request, context, stream=True):
            if isinstance(event, str):
                yield pb.StreamChatMessageResponse(content_delta=event)
            else:
                yield pb.StreamChatMessageResponse(result=event)

    async def _exchange(
        self, request: pb.SendChatMessageRequest, context: Context, *, stream: bool
    ) -> AsyncIterator[str | pb.SendChatMessageResponse]:
        """The reply's text as it comes (when streamed), then the answer; the stored answer
        alone for a request_id answered before."""
        turn = await conversation.prepare(self.deps, request, self.deps.deadline(context))

        async def respond(claim: Claim, outcome: ChatOutcome) -> pb.SendChatMessageResponse:
            return await conversation.store_reply(self.deps, request, claim, turn, outcome)

        once = self.deps.request("SendChatMessage", request.request_id, request)
        async for event in self.deps.answer(
            once, pb.SendChatMessageResponse, turn.call, respond, stream=stream
        ):
            yield event
