-- PutObject request_ids are the caller's own: another tenant reusing an id is a new request.
ALTER TABLE uploads DROP CONSTRAINT uploads_pkey;
ALTER TABLE uploads ADD PRIMARY KEY (principal, request_id);
