"""CreateApiKey, RevokeApiKey and ListApiKeys: the HTTP endpoint's bearer keys (admin only,
config.ADMIN_ONLY)."""

from __future__ import annotations

from services.inference import api_keys
from services.inference.deps import Context, Deps
from services.inference.errors import NoApiKey
from services.inference.store import api_keys as store
from services.inference.store.api_keys import KeyRow
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_db import Connection
from zerog_grpc import Problems, Rpcs
from zerog_grpc.convert import timestamp

MAX_LISTED = 1000


def key_message(row: KeyRow) -> pb.ApiKey:
    key = pb.ApiKey(
        key_id=row.key_id,
        subject=row.subject,
        name=row.name,
        create_time=timestamp(row.created_at),
    )
    if row.revoked_at is not None:
        key.revoke_time.CopyFrom(timestamp(row.revoked_at))
    return key


class ApiKeyRpcs(Rpcs[Deps]):
    """The bearer keys of the OpenAI-compatible endpoint."""

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: Context
    ) -> pb.CreateApiKeyResponse:
        problems = Problems()
        problems.request_id("request_id", request.request_id)
        problems.name("subject", request.subject)
        problems.name("name", request.name, required=False, limit=128)
        problems.raise_if_any("invalid CreateApiKeyRequest")
        made: list[str] = []

        async def create(conn: Connection) -> pb.CreateApiKeyResponse:
            key_id, secret = api_keys.new_secret()
            row = await store.insert(
                conn, key_id, api_keys.digest(secret), request.subject, request.name
            )
            made.append(secret)
            # Stored for a retry without the secret: only its hash is ever kept.
            return pb.CreateApiKeyResponse(key=key_message(row))

        once = self.deps.request("CreateApiKey", request.request_id, request)
        answer = await self.deps.once.run_in_transaction(once, pb.CreateApiKeyResponse, create)
        if made:
            answer.secret = made[0]
        return answer

    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: Context
    ) -> pb.RevokeApiKeyResponse:
        problems = Problems()
        problems.name("key_id", request.key_id)
        problems.raise_if_any("invalid RevokeApiKeyRequest")
        row = await store.revoke(self.deps.pool, request.key_id)
        if row is None:
            raise NoApiKey(request.key_id)
        return pb.RevokeApiKeyResponse(key=key_message(row))

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: Context
    ) -> pb.ListApiKeysResponse:
        rows = await store.listed(
            self.deps.pool, request.subject, request.include_revoked, MAX_LISTED
        )
        return pb.ListApiKeysResponse(keys=[key_message(row) for row in rows])
