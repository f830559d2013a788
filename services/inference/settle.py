"""The completion a stream amounts to, once it ended (whole or cut)."""

from __future__ import annotations

from services.inference.provider_http import Completion, ProviderStream


def stream_completion(stream: ProviderStream) -> Completion:
    """What a stream delivered, as one completion."""
    return Completion(
        id=stream.id,
        chat_id=stream.chat_id or stream.id,
        model=stream.model,
        content="".join(stream.content),
        finish_reason=stream.finish_reason or "stop",
        usage=stream.usage,
        request_body=stream.request_body,
        response_body=stream.response_body,
    )
