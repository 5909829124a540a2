-- Data with a lifecycle. An upload, its jobs and results are deleted once older than
-- the retention window (30 days by default) and no job of it is in flight; the sweep
-- walks uploads oldest first through uploads_created_idx (0004), in small batches.
-- A blob kept for a while only (a rejected upload's file): when it may be deleted.
-- NULL: kept as long as its upload. The partial index holds only the few that are due.
ALTER TABLE uploads ADD COLUMN blob_expires_at timestamptz;
CREATE INDEX uploads_blob_expires_idx ON uploads (blob_expires_at) WHERE blob_expires_at IS NOT NULL;
