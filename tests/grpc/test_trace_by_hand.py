"""Without a span processor, outgoing calls carry the trace context in the token's metadata.

Run in a child process: the tracer provider is process-wide and set once, and this test needs
one that exports nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import json
from opentelemetry import trace
from zerog_grpc import TokenMinter, client_interceptors, setup_tracing
from zerog_grpc.tokens import SigningKey
setup_tracing("by-hand", env={})
interceptors = client_interceptors()
with trace.get_tracer("t").start_as_current_span("call") as span:
    metadata = dict(TokenMinter(SigningKey.generate(), "inference").metadata("quota"))
    context = span.get_span_context()
print(json.dumps({
    "interceptors": len(interceptors),
    "recording": span.is_recording(),
    "trace_id": format(context.trace_id, "032x"),
    "span_id": format(context.span_id, "016x"),
    "metadata": metadata,
}))
"""


def test_trace_context_rides_with_the_token_when_nothing_exports() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["interceptors"] == 0
    assert found["recording"] is False
    assert found["metadata"]["authorization"].startswith("Bearer ")
    version, trace_id, span_id, _ = found["metadata"]["traceparent"].split("-")
    assert (version, trace_id, span_id) == ("00", found["trace_id"], found["span_id"])
    assert int(trace_id, 16) != 0
