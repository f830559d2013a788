"""Chat completions, unary and streamed (one request_id record for both), their TEE checks, and
the model list."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.inference import convert
from services.inference.calls import build_call
from services.inference.chat import ChatCall, ChatOutcome
from services.inference.deps import Context, Deps, last, scope
from services.inference.errors import NoAnswer
from services.inference.store import verifications
from services.inference.verification import NOT_VERIFIABLE
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_db import Claim
from zerog_grpc import Problems, Rpcs
from zerog_grpc.convert import timestamp


class ChatRpcs(Rpcs[Deps]):
    """ChatCompletion, StreamChatCompletion, GetVerification and ListModels."""

    async def ChatCompletion(
        self, request: pb.ChatCompletionRequest, context: Context
    ) -> pb.ChatCompletionResponse:
        call = build_call(
            request, self.deps.deadline(context), invalid="invalid ChatCompletionRequest"
        )
        return await last(self._answer(request, call, stream=False))

    async def StreamChatCompletion(
        self, request: pb.StreamChatCompletionRequest, context: Context
    ) -> AsyncIterator[pb.StreamChatCompletionResponse]:
        inner = request.request
        call = build_call(
            inner,
            self.deps.deadline(context),
            invalid="invalid StreamChatCompletionRequest",
            prefix="request.",
        )
        streamed = False
        async for event in self._answer(inner, call, stream=True):
            if isinstance(event, str):
                streamed = True
                yield pb.StreamChatCompletionResponse(content_delta=event, model=call.model)
                continue
            last = convert.last_chunk(event)
            if not streamed:
                # A stored answer: the retry gets the first answer's text in one piece (a fresh
                # stream that sent no text has none to add).
                last.content_delta = event.choices[0].message.content if event.choices else ""
            yield last

    def _answer(
        self, request: pb.ChatCompletionRequest, call: ChatCall, *, stream: bool
    ) -> AsyncIterator[str | pb.ChatCompletionResponse]:
        """Unary and streamed calls share one request_id record."""

        async def respond(_: Claim, outcome: ChatOutcome) -> pb.ChatCompletionResponse:
            return convert.completion_response(outcome)

        once = self.deps.request("ChatCompletion", request.request_id, request)
        return self.deps.answer(once, pb.ChatCompletionResponse, call, respond, stream=stream)

    async def GetVerification(
        self, request: pb.GetVerificationRequest, context: Context
    ) -> pb.GetVerificationResponse:
        problems = Problems()
        problems.required("request_id", request.request_id)
        problems.raise_if_any("invalid GetVerificationRequest")
        found = await verifications.verification_of(self.deps.pool, scope(), request.request_id)
        if found is None:
            raise NoAnswer(request.request_id)
        answer = pb.GetVerificationResponse(
            verification=pb.Verification(
                status=convert.VERDICTS[found["verification"]],
                chat_id=found["chat_id"],
                signing_address=found["signing_address"],
                reason=found["reason"],
            ),
            provider=found["provider"],
            answer_time=timestamp(found["created_at"]),
        )
        if found["checked_at"] is not None and found["verification"] != NOT_VERIFIABLE:
            answer.check_time.CopyFrom(timestamp(found["checked_at"]))
        return answer

    async def ListModels(
        self, request: pb.ListModelsRequest, context: Context
    ) -> pb.ListModelsResponse:
        providers = await self.deps.engine.broker.providers()
        models: dict[str, list[pb.ProviderStatus]] = {}
        for p in providers:
            if (request.official_only and not p.official) or (
                request.verifiable_only and not p.verifiable
            ):
                continue
            models.setdefault(p.model, []).append(
                pb.ProviderStatus(
                    provider=p.address,
                    url=p.url,
                    input_price_neuron=str(p.input_price),
                    output_price_neuron=str(p.output_price),
                    verifiable=p.verifiable,
                    official=p.official,
                    breaker_state=self.deps.breakers.state(p.address),
                    average_latency_ms=round(self.deps.stats.latency_ms(p.address) or 0),
                    success_rate=self.deps.stats.success_rate(p.address),
                )
            )
        return pb.ListModelsResponse(
            models=[pb.Model(id=m, providers=ps) for m, ps in sorted(models.items())]
        )
