"""The on-call metrics, by the service that exports them: what test_metric_names proves each
owner serves, and what the alert rules and the Grafana dashboard may name."""

from __future__ import annotations

import re

# Metric (sample) names each service serves once it has done some work.
OWNED: dict[str, frozenset[str]] = {
    "inference": frozenset(
        {
            "zerog_compute_requests_total",
            "zerog_compute_tokens_used_total",
            "zerog_compute_cost_micro_usd_total",
            "zerog_compute_fee_neuron_total",
            "zerog_inference_breaker_state",
        }
    ),
    "storage": frozenset({"zerog_storage_uploads_total", "zerog_storage_upload_bytes_total"}),
    "quota": frozenset({"zerog_quota_usage_percent_max", "zerog_quota_subjects_near_limit"}),
    "broker": frozenset(
        {
            "zerog_broker_wallet_balance_neuron",
            "zerog_broker_ledger_balance_neuron",
            "zerog_broker_topups_total",
            "zerog_broker_topup_neuron_total",
        }
    ),
    "scheduler": frozenset({"notification_scheduler_jobs_executed_total"}),
}
# Every service: the kernel's RED metrics per RPC.
EVERY_SERVICE = frozenset(
    {
        "zerog_grpc_server_started_total",
        "zerog_grpc_server_handled_total",
        "zerog_grpc_server_handling_seconds_bucket",
    }
)
# Declared, with samples only once something fails.
ON_FAILURE = {"inference": frozenset({"zerog_compute_request_errors_total"})}

KNOWN = frozenset().union(*OWNED.values(), *ON_FAILURE.values(), EVERY_SERVICE) | {
    "zerog_grpc_server_handling_seconds_sum",
    "zerog_grpc_server_handling_seconds_count",
}
# A PromQL metric name: an identifier not followed by "(" (a function) and not a label.
_NAME = re.compile(r"\b((?:zerog|notification_scheduler)_[a-z0-9_]+)\b")


def names_in(expr: str) -> set[str]:
    """The zerog metric names a PromQL expression uses."""
    return set(_NAME.findall(expr))
