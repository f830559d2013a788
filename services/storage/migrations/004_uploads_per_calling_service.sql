-- PutObject request_ids belong to the calling service (its JWT sub) as well as the principal:
-- two services acting for one user with one request_id make two uploads, each paid once; the
-- same service retrying still resumes its own. Rows journaled before belong to caller '' (which
-- no authenticated caller is); a retry of one finds it (uploads.owner) and resumes it under the
-- ids it was first sent with, so a paid submission is never paid again.
ALTER TABLE uploads ADD COLUMN caller text NOT NULL DEFAULT '';
ALTER TABLE uploads ALTER COLUMN caller DROP DEFAULT;
ALTER TABLE uploads DROP CONSTRAINT uploads_pkey;
ALTER TABLE uploads ADD PRIMARY KEY (caller, principal, request_id);
