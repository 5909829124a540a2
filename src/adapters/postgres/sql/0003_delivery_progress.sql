-- How many parts of a job's answer Telegram has accepted: a resumed job sends
-- only the rest, so a crash or an outage never repeats what the user already has.
ALTER TABLE jobs ADD COLUMN parts_sent smallint NOT NULL DEFAULT 0 CHECK (parts_sent >= 0);
