-- Answers served from a budget lease (issue 16): their reservation_id is the lease's, and the
-- settler reports their tokens as a spend of the lease (once by usage_id) instead of committing.
ALTER TABLE inference.settlements ADD COLUMN leased boolean NOT NULL DEFAULT false;
