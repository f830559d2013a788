"""BrokerService: the gRPC servicer, assembled from one mixin per group of RPCs."""

from __future__ import annotations

from services.broker.rpc_accounts import AccountRpcs
from services.broker.rpc_credentials import CredentialRpcs
from services.broker.rpc_ledger import LedgerRpcs
from services.broker.rpc_providers import ProviderRpcs
from services.broker.rpc_usage import UsageRpcs
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog.broker.v1 import broker_service_pb2_grpc

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["BrokerService"].full_name


class BrokerService(
    LedgerRpcs,
    ProviderRpcs,
    CredentialRpcs,
    UsageRpcs,
    AccountRpcs,
    broker_service_pb2_grpc.BrokerServiceServicer,
):
    """The broker's gRPC servicer."""
