"""InferenceService servicer: chat completions (unary and streamed) and the model list."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from services.inference import convert
from services.inference.calls import build_call, refuse_unverified
from services.inference.chat import ChatOutcome
from services.inference.faults import Context, fail
from services.inference.rpc_insights import InsightRpcs
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_grpc import abort, bad_request, current_caller

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["InferenceService"].full_name


class InferenceService(InsightRpcs):
    """Chat completions (unary and streamed), models, portfolio insights and dream readings."""

    async def ChatCompletion(
        self, request: pb.ChatCompletionRequest, context: Context
    ) -> pb.ChatCompletionResponse:
        call, problems = build_call(request, context, self._clock)
        if call is None:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid ChatCompletionRequest",
                bad_request(problems),
            )

        async def run() -> tuple[pb.ChatCompletionResponse, ChatOutcome]:
            outcome = await self._engine.complete(call)
            refuse_unverified(call, outcome)
            return convert.completion_response(outcome), outcome

        response: pb.ChatCompletionResponse = await self._once(
            "ChatCompletion", request, context, run, pb.ChatCompletionResponse.FromString
        )
        return response

    async def StreamChatCompletion(
        self, request: pb.StreamChatCompletionRequest, context: Context
    ) -> AsyncIterator[pb.StreamChatCompletionResponse]:
        inner = request.request
        call, problems = build_call(inner, context, self._clock)
        if call is None:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid StreamChatCompletionRequest",
                bad_request({f"request.{k}": v for k, v in problems.items()}),
            )
        key = convert.fingerprint(inner)
        try:
            # Same claim and record as the unary call: a retry gets the first answer in one piece.
            got = await self._claims.claim(
                current_caller().service, "ChatCompletion", inner.request_id, key
            )
            if isinstance(got, bytes):
                first = pb.ChatCompletionResponse.FromString(got)
                last = convert.last_chunk(first)
                last.content_delta = first.choices[0].message.content if first.choices else ""
                yield last
                return
            try:
                async for event in self._engine.stream(call):
                    if isinstance(event, str):
                        yield pb.StreamChatCompletionResponse(content_delta=event, model=call.model)
                        continue
                    refuse_unverified(call, event)
                    response = convert.completion_response(event)
                    await self._claims.finish(
                        got,
                        response.SerializeToString(),
                        provider=event.provider,
                        verification=event.verification.status,
                    )
                    yield convert.last_chunk(response)
            except BaseException:
                await self._claims.release(got)
                raise
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await fail(context, error)

    async def ListModels(
        self, request: pb.ListModelsRequest, context: Context
    ) -> pb.ListModelsResponse:
        try:
            providers = await self._engine.broker.providers()
        except Exception as error:
            await fail(context, error)
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
                    breaker_state=self._breakers.state(p.address),
                    average_latency_ms=round(self._stats.latency_ms(p.address) or 0),
                    success_rate=self._stats.success_rate(p.address),
                )
            )
        return pb.ListModelsResponse(
            models=[pb.Model(id=m, providers=ps) for m, ps in sorted(models.items())]
        )
