-- Who was invited, who joined through an invite, whose role was revoked: an append-only
-- trail coordinators read with /audit. Like alert_events it can be added to, never changed.
CREATE TABLE staff_audit (
    id         INTEGER PRIMARY KEY,
    at         REAL NOT NULL,
    kind       TEXT NOT NULL,        -- invited | joined | revoked | left
    actor_id   INTEGER,              -- who did it (the coordinator; the person for joined)
    subject_id INTEGER,              -- whom it concerns (NULL for an invite not yet used)
    role       TEXT,                 -- the role invited, gained or lost
    detail     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX staff_audit_at ON staff_audit (at);
CREATE TRIGGER staff_audit_append_only_u BEFORE UPDATE ON staff_audit
BEGIN SELECT RAISE(ABORT, 'staff_audit is append-only'); END;
CREATE TRIGGER staff_audit_append_only_d BEFORE DELETE ON staff_audit
BEGIN SELECT RAISE(ABORT, 'staff_audit is append-only'); END;
