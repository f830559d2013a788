-- Scheduled verification and retention (services/storage/periodic.py): one row per job and
-- period. The replica whose insert succeeds runs that period; the others skip it.
CREATE TABLE job_runs (
    job          text NOT NULL,
    period_start timestamptz NOT NULL,
    replica      text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    checked      integer,
    flagged      integer,
    PRIMARY KEY (job, period_start)
);
