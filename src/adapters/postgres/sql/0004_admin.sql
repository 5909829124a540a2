-- Admin tools: bans, broadcasts, and the indexes /stats reads through.

-- A banned user's updates are claimed and ignored. Kept apart from users: an
-- admin may ban an id the bot has never seen.
CREATE TABLE banned_users (
    user_id     bigint PRIMARY KEY,
    banned_by   bigint NOT NULL,
    created_at  timestamptz NOT NULL
);

-- Telegram answered 403 (the user blocked the bot): skipped by later broadcasts.
ALTER TABLE users ADD COLUMN blocked_at timestamptz;

-- One message to every user, sent in user id order. ``cursor`` is the last user id
-- handled: a restarted bot resumes after it, so nobody gets the message twice.
CREATE TABLE broadcasts (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    admin_id             bigint NOT NULL,
    chat_id              bigint NOT NULL,      -- where the progress message lives
    language             text NOT NULL,        -- the admin's, for the progress message
    text                 text NOT NULL,
    status               text NOT NULL CHECK (status IN ('running', 'done', 'cancelled')),
    cursor               bigint NOT NULL DEFAULT 0,
    total                integer NOT NULL DEFAULT 0 CHECK (total >= 0),
    sent                 integer NOT NULL DEFAULT 0 CHECK (sent >= 0),
    blocked              integer NOT NULL DEFAULT 0 CHECK (blocked >= 0),
    failed               integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
    progress_message_id  bigint,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
-- At most one broadcast runs at a time.
CREATE UNIQUE INDEX broadcasts_one_running_idx ON broadcasts ((true)) WHERE status = 'running';

-- /stats counts recent uploads and failed jobs without scanning whole tables; the
-- retention sweep walks uploads oldest first through the same index.
CREATE INDEX uploads_created_idx ON uploads (created_at, id);
CREATE INDEX jobs_failed_updated_idx ON jobs (updated_at) WHERE status = 'failed';
