-- A 429's pause, per bot (bot.ratelimit). Redis' shared send bucket carries it to every
-- process; the process that met the 429 posts it here as well, so that a process
-- sending while Redis fails it still learns of the pause. One row per bot, judged on
-- the database's clock.
CREATE TABLE send_pauses (
    bot_id      bigint PRIMARY KEY,
    until       timestamptz NOT NULL
);
