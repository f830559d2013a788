-- Idempotency keys belong to the calling service (its JWT sub): two services that happen to
-- use one request_id get two operations, two usage records, two verifications; the same
-- service retrying still gets its first answer. Rows written before belong to caller ''
-- (which no authenticated caller is), so a retry spanning this change runs anew.
ALTER TABLE operations ADD COLUMN caller text NOT NULL DEFAULT '';
ALTER TABLE operations DROP CONSTRAINT operations_pkey;
ALTER TABLE operations ADD PRIMARY KEY (caller, request_id);

ALTER TABLE usage ADD COLUMN caller text NOT NULL DEFAULT '';
ALTER TABLE usage DROP CONSTRAINT usage_pkey;
ALTER TABLE usage ADD PRIMARY KEY (caller, request_id);

ALTER TABLE verifications ADD COLUMN caller text NOT NULL DEFAULT '';
ALTER TABLE verifications DROP CONSTRAINT verifications_pkey;
ALTER TABLE verifications ADD PRIMARY KEY (caller, request_id);
