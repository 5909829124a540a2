-- A claim belongs to one bot: Telegram numbers updates per bot, restarts the numbers
-- after a week without updates, and one database may serve several bots (or a new
-- token). Claims are pruned after a retention window (48 h by default; Telegram keeps
-- an undelivered update for 24 h), in batches, oldest first, through the index below.
-- Claims made before this migration belong to no bot (0) and expire like the others.
ALTER TABLE processed_updates ADD COLUMN bot_id bigint NOT NULL DEFAULT 0;
ALTER TABLE processed_updates ALTER COLUMN bot_id DROP DEFAULT;
ALTER TABLE processed_updates DROP CONSTRAINT processed_updates_pkey;
ALTER TABLE processed_updates ADD PRIMARY KEY (bot_id, update_id);
CREATE INDEX processed_updates_processed_at_idx ON processed_updates (processed_at);
