-- A 429's pause, per bot and per kind of call (bot.ratelimit, bot.updates): "send" for
-- the token's sends, "poll" for getUpdates. Redis' shared send bucket carries a send
-- pause to every process; the process that met the 429 posts it here as well, so that a
-- process sending while Redis fails it still learns of it, and a poller that starts
-- after a crash waits out its predecessor's. Judged on the database's clock.
CREATE TABLE telegram_pauses (
    bot_id      bigint NOT NULL,
    kind        text NOT NULL,
    until       timestamptz NOT NULL,
    PRIMARY KEY (bot_id, kind)
);
