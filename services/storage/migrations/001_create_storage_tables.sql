-- Namespaces, their ACLs, content (one row per merkle root), object versions and the upload
-- journal that makes PutObject resumable without a second Flow payment.

CREATE TABLE namespaces (
    name                 text PRIMARY KEY,
    owner                text NOT NULL,
    metadata             jsonb NOT NULL DEFAULT '{}',
    quota_bytes          bigint NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),
    expire_after_seconds bigint CHECK (expire_after_seconds > 0),
    keep_versions        integer NOT NULL DEFAULT 0 CHECK (keep_versions >= 0),
    default_replicas     integer NOT NULL DEFAULT 0 CHECK (default_replicas >= 0),
    request_id           text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at           timestamptz
);

CREATE TABLE acl (
    namespace  text NOT NULL REFERENCES namespaces (name),
    principal  text NOT NULL,
    permission smallint NOT NULL CHECK (permission BETWEEN 1 AND 3),
    PRIMARY KEY (namespace, principal)
);
CREATE INDEX acl_principal ON acl (principal);

-- Content addressed: equal bytes share one row, paid for once.
CREATE TABLE contents (
    root          bytea PRIMARY KEY CHECK (length(root) = 32),
    size          bigint NOT NULL CHECK (size > 0),
    sha256        bytea NOT NULL CHECK (length(sha256) = 32),
    tx_seq        bigint NOT NULL,
    replicas      integer NOT NULL CHECK (replicas > 0),
    verify_state  text NOT NULL DEFAULT 'unverified'
        CHECK (verify_state IN ('unverified', 'verified', 'degraded', 'lost')),
    verify_detail text NOT NULL DEFAULT '',
    verified_at   timestamptz,
    checked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contents_checked ON contents (checked_at NULLS FIRST);

CREATE TABLE objects (
    namespace    text NOT NULL REFERENCES namespaces (name),
    name         text NOT NULL,
    version      bigint NOT NULL CHECK (version > 0),
    root         bytea NOT NULL REFERENCES contents (root),
    replicas     integer NOT NULL CHECK (replicas > 0),
    content_type text NOT NULL DEFAULT '',
    metadata     jsonb NOT NULL DEFAULT '{}',
    creator      text NOT NULL,
    request_id   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    PRIMARY KEY (namespace, name, version)
);
CREATE INDEX objects_root ON objects (root);
CREATE INDEX objects_live ON objects (namespace, name) WHERE deleted_at IS NULL;

-- One row per PutObject request_id, written before anything is paid and updated after the
-- Flow submission, so a retry after a crash carries the tx forward instead of paying again.
CREATE TABLE uploads (
    request_id     text PRIMARY KEY,
    principal      text NOT NULL,
    namespace      text NOT NULL,
    name           text NOT NULL,
    header_digest  bytea NOT NULL,
    size           bigint NOT NULL,
    sha256         bytea NOT NULL,
    replicas       integer NOT NULL,
    root           bytea,
    state          text NOT NULL DEFAULT 'received'
        CHECK (state IN ('received', 'submitting', 'submitted', 'stored')),
    attempts       integer NOT NULL DEFAULT 0,
    tx_seq         bigint,
    tx_hash        text NOT NULL DEFAULT '',
    fee_neuron     numeric(78, 0),
    version        bigint,
    deduplicated   boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Results of mutating calls other than PutObject, replayed for a retried request_id.
CREATE TABLE requests (
    request_id text NOT NULL,
    principal  text NOT NULL,
    method     text NOT NULL,
    digest     bytea NOT NULL,
    response   bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, method, request_id)
);
