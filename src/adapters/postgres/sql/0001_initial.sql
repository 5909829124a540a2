-- The bot's records. Postgres is the source of truth: the queue and the
-- conversation state in Redis can be lost, these rows cannot.

CREATE TABLE users (
    id          bigint PRIMARY KEY,              -- Telegram user id
    language    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE uploads (
    id              uuid PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chat_id         bigint NOT NULL,
    file_id         text NOT NULL,               -- Telegram's handle to fetch the file
    file_unique_id  text NOT NULL,
    file_name       text NOT NULL,
    file_size       bigint,
    blob_key        text,                        -- set once the file is in blob storage
    created_at      timestamptz NOT NULL
);
-- list_uploads: a user's newest first.
CREATE INDEX uploads_user_created_idx ON uploads (user_id, created_at DESC, id DESC);

CREATE TABLE jobs (
    id          uuid PRIMARY KEY,
    upload_id   uuid NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL,
    chat_id     bigint NOT NULL,
    language    text NOT NULL,
    status      text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    step        smallint NOT NULL DEFAULT 0 CHECK (step BETWEEN 0 AND 3),
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error       text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX jobs_upload_idx ON jobs (upload_id);
-- The reconciler scans only unfinished jobs, oldest touch first.
CREATE INDEX jobs_unfinished_idx ON jobs (updated_at, id) WHERE status IN ('queued', 'running');

CREATE TABLE results (
    job_id      uuid PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    upload_id   uuid NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    payload     text NOT NULL,                   -- JSON, stored verbatim (jsonb would reorder keys)
    created_at  timestamptz NOT NULL
);
CREATE INDEX results_upload_idx ON results (upload_id, created_at DESC);

-- Telegram update ids that took effect: each update is handled at most once,
-- across restarts and across several bot processes.
CREATE TABLE processed_updates (
    update_id     bigint PRIMARY KEY,
    processed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE admin_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    admin_id    bigint NOT NULL,
    action      text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_audit_created_idx ON admin_audit (created_at);
