"""The InferenceService servicer's state and its once-per-request_id runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import grpc

from services.inference import convert, store
from services.inference.breaker import Breakers
from services.inference.chat import ChatEngine
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
    ) -> None:
        self._pool = pool
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
        """Run `run` once per (caller, request_id); retries get the stored answer."""
        caller = current_caller().service
        key = convert.fingerprint(request)
        try:
            stored = await store.recall(self._pool, caller, method, request.request_id, key)
            if stored is not None:
                return parse(stored)
            response, outcome = await run()
            await store.remember(
                self._pool,
                caller,
                method,
                request.request_id,
                key,
                response.SerializeToString(),
                provider=outcome.provider,
                verification=outcome.verification.status,
            )
            return response
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await fail(context, error)
