"""The InferenceService servicer's state and its once-per-request_id runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import grpc

from services.inference import convert
from services.inference.breaker import Breakers
from services.inference.chat import ChatEngine
from services.inference.claims import Claim, Claims, run_once
from services.inference.faults import Context, fail
from services.inference.retry import Clock
from services.inference.routing import ProviderStats
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog_grpc import current_caller


class InferenceBase(inference_service_pb2_grpc.InferenceServiceServicer):
    """What every InferenceService RPC uses: the pool, the chat engine, breakers and stats."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        engine: ChatEngine,
        breakers: Breakers,
        stats: ProviderStats,
        clock: Clock,
        claims: Claims,
    ) -> None:
        self._pool = pool
        self._claims = claims
        self._engine = engine
        self._breakers = breakers
        self._stats = stats
        self._clock = clock

    async def _once(
        self,
        method: str,
        request: Any,
        context: Context,
        run: Callable[[], Any],
        parse: Callable[[bytes], Any],
    ) -> Any:
        """Run `run` once per (caller, request_id); retries get the stored answer, a
        concurrent duplicate RequestInProgress (ABORTED)."""

        async def claimed(_: Claim) -> tuple[Any, dict[str, str]]:
            response, outcome = await run()
            return response, {
                "provider": outcome.provider,
                "verification": outcome.verification.status,
            }

        try:
            return await run_once(
                self._claims,
                current_caller().service,
                method,
                request.request_id,
                convert.fingerprint(request),
                claimed,
                parse,
            )
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await fail(context, error)
