"""The devnet provider: a 0G inference provider on the local chain, with misbehaviour knobs.

Registers (and stakes) on the real InferenceServing contract, checks session tokens as 0G's
Go provider does, serves an OpenAI-compatible API from a deterministic model, signs each
exchange with its TEE key and settles fees with settleFeesWithTEE. See devnet/README.md.
"""

from devnet.provider.knobs import OUTAGES, KnobError, Knobs
from devnet.provider.process import (
    ProviderProcess,
    ProviderSpec,
    ProviderStartError,
    acknowledge_tee_signer,
    derived_key,
    launch_provider,
    launch_providers,
)
from devnet.provider.service import SERVICE_NAME, DevnetProviders, default_specs

__all__ = [
    "OUTAGES",
    "SERVICE_NAME",
    "DevnetProviders",
    "KnobError",
    "Knobs",
    "ProviderProcess",
    "ProviderSpec",
    "ProviderStartError",
    "acknowledge_tee_signer",
    "default_specs",
    "derived_key",
    "launch_provider",
    "launch_providers",
]
