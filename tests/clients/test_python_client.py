"""The client kit as a user gets it: `pip install clients/python` into a fresh virtual
environment, then an authenticated, mutating call to every service of the `make dev` stack
through it, and a refusal decoded into its typed exception."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tools import dev
from zerog_grpc.tokens import SigningKey

ROOT = Path(__file__).resolve().parents[2]

# Runs inside the fresh environment: only zerog_client and what it installed are importable.
EXERCISE = r"""
import json, os, sys

import zerog_client
from zerog.broker.v1 import broker_service_pb2 as bpb, broker_service_pb2_grpc
from zerog.inference.v1 import inference_service_pb2 as ipb, inference_service_pb2_grpc
from zerog.quota.v1 import quota_service_pb2 as qpb, quota_service_pb2_grpc
from zerog.scheduler.v1 import scheduler_service_pb2 as spb, scheduler_service_pb2_grpc
from zerog.storage.v1 import storage_service_pb2 as opb, storage_service_pb2_grpc

addresses = json.loads(os.environ["ADDRESSES"])
keys = os.environ["AUTH_KEYS_DIR"]
admin = zerog_client.SigningKey.from_file(f"{keys}/admin.pem")
done = {}


def channel(service, key=admin, subject="admin", user=""):
    tokens = zerog_client.MintedTokens(key, subject=subject, audience=service, user=user)
    return zerog_client.connect(addresses[service], token=tokens, timeout=60)


quota = quota_service_pb2_grpc.QuotaServiceStub(channel("quota"))
answer = zerog_client.call(
    quota.SetSubjectTier, qpb.SetSubjectTierRequest(subject="user:kit", tier="free")
)
done["quota"] = answer.quota.tier

broker = broker_service_pb2_grpc.BrokerServiceStub(channel("broker"))
answer = zerog_client.call(
    broker.Deposit, bpb.DepositRequest(request_id="kit-deposit", amount_neuron=str(10**18))
)
done["broker"] = answer.ledger.total_neuron

inference = inference_service_pb2_grpc.InferenceServiceStub(channel("inference"))
answer = zerog_client.call(
    inference.ChatCompletion,
    ipb.ChatCompletionRequest(
        request_id="kit-chat",
        subject="user:kit",
        messages=[ipb.ChatMessage(role=ipb.CHAT_ROLE_USER, content="hello from the kit")],
    ),
)
done["inference"] = answer.choices[0].message.content

# An application with its own key, acting for its user: the subject defaults to that user.
app = zerog_client.SigningKey.from_file(f"{keys}/app.pem")
as_kit = inference_service_pb2_grpc.InferenceServiceStub(
    channel("inference", app, subject="app", user="kit")
)
answer = zerog_client.call(
    as_kit.ChatCompletion,
    ipb.ChatCompletionRequest(
        request_id="kit-app-chat",
        messages=[ipb.ChatMessage(role=ipb.CHAT_ROLE_USER, content="hello from an app")],
    ),
)
done["app"] = answer.choices[0].message.content

# The key decides who speaks: app's key naming itself admin is refused, typed.
try:
    impostor = quota_service_pb2_grpc.QuotaServiceStub(channel("quota", app))
    zerog_client.call(impostor.GetQuota, qpb.GetQuotaRequest(subject="user:kit"))
except zerog_client.Unauthenticated as error:
    done["impostor"] = error.reason

storage = storage_service_pb2_grpc.StorageServiceStub(channel("storage"))
answer = zerog_client.call(
    storage.CreateNamespace, opb.CreateNamespaceRequest(request_id="kit-ns", name="kit")
)
done["storage"] = answer.namespace.name

scheduler = scheduler_service_pb2_grpc.SchedulerServiceStub(channel("scheduler"))
answer = zerog_client.call(
    scheduler.SetUserPreferences,
    spb.SetUserPreferencesRequest(
        request_id="kit-prefs",
        preferences=spb.UserPreferences(user_id="kit", time_zone="Europe/Paris"),
    ),
)
done["scheduler"] = answer.preferences.time_zone

# A refusal, typed: a chat without request_id or messages names both fields.
try:
    zerog_client.call(inference.ChatCompletion, ipb.ChatCompletionRequest())
except zerog_client.InvalidArgument as error:
    done["error"] = {
        "type": type(error).__name__,
        "code": error.code.name,
        "fields": sorted(error.field_violations),
        "retry_delay": error.retry_delay,
    }

# A second refusal: the storage object that is not there, with its ErrorInfo reason.
try:
    for _ in storage.GetObject(opb.GetObjectRequest(namespace="kit", name="absent")):
        pass
except Exception as raw:
    error = zerog_client.from_rpc_error(raw)
    done["not_found"] = {"type": type(error).__name__, "reason": error.reason}

json.dump(done, sys.stdout)
"""


@pytest.fixture(scope="session")
def client_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with `pip install clients/python` done, once per run."""
    home = tmp_path_factory.mktemp("zerog-client-venv")
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(ROOT / "clients" / "python")],
        check=True,
        capture_output=True,
        timeout=240,
    )
    return python


@pytest.fixture(scope="module")
def stack() -> Iterator[dev.DevStack]:
    with dev.dev_stack(dev.present_services(free_ports=True), {"LOG_LEVEL": "WARNING"}) as s:
        yield s


def test_the_installed_kit_is_isolated_from_this_checkout(client_python: Path) -> None:
    where = subprocess.run(
        [str(client_python), "-c", "import zerog, zerog_client; print(zerog.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=client_python.parent,
        timeout=60,
    ).stdout
    assert "site-packages" in where
    assert sys.prefix not in where


def test_every_service_through_the_kit(client_python: Path, stack: dev.DevStack) -> None:
    addresses = {service.name: service.address for service in stack.services}
    env = {
        "PATH": os.environ["PATH"],
        "ADDRESSES": json.dumps(addresses),
        # The development keys `make dev` publishes (admin's and the example app's).
        "AUTH_KEYS_DIR": str(dev.DEV_KEYS),
    }
    ran = subprocess.run(
        [str(client_python), "-c", EXERCISE],
        env=env,
        cwd=client_python.parent,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert ran.returncode == 0, ran.stderr
    done = json.loads(ran.stdout)
    assert done["quota"] == "free"
    assert int(done["broker"]) > 0
    assert done["inference"]
    assert done["app"]
    assert done["impostor"] == "KEY_NOT_FOR_SUBJECT"
    assert done["storage"] == "kit"
    assert done["scheduler"] == "Europe/Paris"
    assert done["error"] == {
        "type": "InvalidArgument",
        "code": "INVALID_ARGUMENT",
        "fields": ["messages", "request_id"],
        "retry_delay": None,
    }
    assert done["not_found"] == {"type": "NotFound", "reason": "OBJECT_NOT_FOUND"}


# Mints one token with the kit, in the fresh environment, for the key file given.
MINT = r"""
import sys, zerog_client
key = zerog_client.SigningKey.from_file(sys.argv[1])
print(zerog_client.mint_token(key, subject="app", audience="inference", user="alice"))
"""


@pytest.mark.parametrize("kind", ["ES256", "RS256"])
def test_kit_tokens_name_the_key_the_jwks_publishes(
    client_python: Path, tmp_path: Path, kind: str
) -> None:
    key = (
        SigningKey.generate()
        if kind == "ES256"
        else SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    )
    (pem := tmp_path / "app.pem").write_bytes(key.pem())
    token = subprocess.run(
        [str(client_python), "-c", MINT, str(pem)],
        check=True,
        capture_output=True,
        text=True,
        cwd=client_python.parent,
        timeout=60,
    ).stdout.strip()
    # The kid is the one the services' JWKS entry for this key carries (zerog_grpc's own).
    assert jwt.get_unverified_header(token) == {"alg": kind, "kid": key.kid, "typ": "JWT"}
    claims = jwt.decode(token, key.private.public_key(), algorithms=[kind], audience="inference")
    assert (claims["sub"], claims["user"]) == ("app", "alice")
    assert claims["exp"] - claims["iat"] == 300
