"""Storage's on-call metrics (docs/operations.md names them; deploy/k8s alerts on them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class UploadMetrics:
    """PutObject outcomes and the bytes stored."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.uploads = Counter(
            "zerog_storage_uploads_total",
            "PutObject uploads, by result (stored, deduplicated, failed)",
            ["result"],
            registry=registry,
        )
        self.bytes = Counter(
            "zerog_storage_upload_bytes_total", "Bytes of objects stored", registry=registry
        )
        for result in ("stored", "deduplicated", "failed"):
            self.uploads.labels(result)

    def stored(self, size: int, deduplicated: bool) -> None:
        self.uploads.labels("deduplicated" if deduplicated else "stored").inc()
        self.bytes.inc(size)

    def failed(self) -> None:
        self.uploads.labels("failed").inc()
