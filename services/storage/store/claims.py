"""SQL that keeps a zerog_db.Once claim alive while its work runs (the kernel has none yet)."""

from __future__ import annotations

from datetime import timedelta

from zerog_db import Claim, Executor


async def renew(db: Executor, claim: Claim, lease: timedelta) -> bool:
    """Push the claim's lease `lease` past now; False once it was finished, released or taken."""
    done = await db.fetchval(
        "UPDATE idempotency SET lease_until = now() + $4::interval"
        " WHERE scope = $1 AND request_id = $2 AND claim_token = $3 RETURNING 1",
        claim.request.scope,
        claim.request.request_id,
        claim.token,
        lease,
    )
    return done is not None
