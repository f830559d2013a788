"""StorageService: the servicer composed of its namespace, object and backup handlers."""

from __future__ import annotations

from services.storage.service_base import Deps
from services.storage.service_jobs import JobRpcs
from services.storage.service_namespaces import NamespaceRpcs
from services.storage.service_objects import ObjectRpcs
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog.storage.v1 import storage_service_pb2_grpc

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["StorageService"].full_name


class StorageService(
    NamespaceRpcs, ObjectRpcs, JobRpcs, storage_service_pb2_grpc.StorageServiceServicer
):
    """Namespaces, ACLs and objects on 0G Storage, with verification and recovery."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
