-- Summaries (daily digests and weekly summaries) are kept on 0G Storage through the storage
-- service. The notification records whether its summary is stored and when to try again (a
-- storage outage never holds a delivery back); each of its deliveries links the stored object.
ALTER TABLE notifications ADD COLUMN summary_state text NOT NULL DEFAULT 'not_kept'
    CHECK (summary_state IN ('not_kept', 'not_configured', 'pending', 'stored'));
ALTER TABLE notifications ADD COLUMN summary_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN summary_retry_at timestamptz;
ALTER TABLE notifications ADD COLUMN summary_error text NOT NULL DEFAULT '';
CREATE INDEX notifications_summary_due ON notifications (summary_retry_at)
    WHERE summary_state = 'pending';

-- The stored object: '' and 0 until the summary is stored.
ALTER TABLE deliveries ADD COLUMN summary_namespace text NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN summary_name text NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN summary_version bigint NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN summary_root text NOT NULL DEFAULT '';
