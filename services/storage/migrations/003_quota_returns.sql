-- Who was charged for a version's bytes in quota, and when they were given back after the
-- version was deleted or expired (NULL: not yet; retried by the next delete or retention run).
ALTER TABLE objects ADD COLUMN quota_subject text;
ALTER TABLE objects ADD COLUMN quota_released_at timestamptz;
CREATE INDEX objects_quota_pending ON objects (namespace)
    WHERE deleted_at IS NOT NULL AND quota_subject IS NOT NULL AND quota_released_at IS NULL;
