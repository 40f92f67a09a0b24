-- The coordinators' live board (issue 11): one pinned message per group, edited in place.
-- message_row is the outbox row of the board's message: its Telegram message id is there
-- once delivered, so after a restart the same message is edited. A pending `board` timer
-- row (kind 'board', subject the chat) is the board's "dirty" mark: a redraw is due.
CREATE TABLE boards (
    chat_id     INTEGER PRIMARY KEY,
    set_by      INTEGER NOT NULL,
    message_row INTEGER,
    page        INTEGER NOT NULL DEFAULT 0,
    drawn_at    REAL NOT NULL DEFAULT 0
);
