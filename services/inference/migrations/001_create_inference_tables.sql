-- Answers already given (chat completions, insights and session changes), so a retried
-- request_id returns the first answer without calling a provider or changing a session again.
-- verification records failed TEE checks too, so they stay visible after the call.
CREATE TABLE inference.responses (
    caller text NOT NULL,
    method text NOT NULL,
    request_id text NOT NULL,
    fingerprint text NOT NULL,
    response bytea NOT NULL,
    provider text NOT NULL DEFAULT '',
    verification text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, method, request_id)
);

CREATE TABLE inference.chat_sessions (
    session_id uuid PRIMARY KEY,
    user_id text NOT NULL,
    title text NOT NULL DEFAULT '',
    model text NOT NULL DEFAULT '',
    routing bytea NOT NULL DEFAULT ''::bytea,
    state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'archived')),
    portfolio_context bytea,
    context_updated_at timestamptz,
    tokens_used bigint NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
    last_provider text NOT NULL DEFAULT '',
    last_model text NOT NULL DEFAULT '',
    compressions integer NOT NULL DEFAULT 0,
    archive_id text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX chat_sessions_by_user ON inference.chat_sessions (user_id, created_at DESC, session_id);

CREATE TABLE inference.chat_messages (
    message_id bigserial PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES inference.chat_sessions ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content text NOT NULL,
    summary boolean NOT NULL DEFAULT false,
    tokens bigint NOT NULL DEFAULT 0,
    provider text NOT NULL DEFAULT '',
    model text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);
CREATE INDEX chat_messages_by_session ON inference.chat_messages (session_id, message_id);

