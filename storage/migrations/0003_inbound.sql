-- Updates whose effects are committed, written in the same transaction as those effects:
-- an update Telegram hands again after a crash (its offset not yet confirmed) is skipped,
-- so a crash repeats no effect. Rows older than Telegram's 24 h memory are pruned.
CREATE TABLE processed_updates (
    update_id INTEGER PRIMARY KEY,
    at        REAL NOT NULL
);
CREATE INDEX processed_updates_at ON processed_updates (at);

-- What a person sent over the input limit: stored (on their open alert) but not answered
-- one by one; a summary follows when the flood stops (a 'flood_summary' timer row).
CREATE TABLE held_input (
    user_id  INTEGER PRIMARY KEY,
    held     INTEGER NOT NULL,
    first_at REAL NOT NULL,
    last_at  REAL NOT NULL
);

-- A chat's pending answers, counted on every answer queued (replies to a flood are merged).
CREATE INDEX outbox_chat_pending ON outbox (chat_id, state, kind);
