-- The timeline's update rule, for both encryption (0007) and retention (0008): the facts of
-- an event (its id, alert, time and kind) never change. Its sealed detail may be re-sealed
-- under a new key (`qorgau rotate-key`, or the first start with a key sealing an older
-- plain database) with nothing else changing, and only into a sealed value; and it may be redacted once: redacted_at
-- set, the actor kept or removed, the detail only losing keys where it is plain JSON.
DROP TRIGGER alert_events_append_only_u;
CREATE TRIGGER alert_events_append_only_u BEFORE UPDATE ON alert_events
WHEN NOT (
    NEW.id = OLD.id AND NEW.alert_id = OLD.alert_id AND NEW.at = OLD.at
    AND NEW.kind = OLD.kind
    AND (
        (NEW.actor_id IS OLD.actor_id AND NEW.redacted_at IS OLD.redacted_at
         AND substr(NEW.detail, 1, 3) = 'q1.')  -- sealed (storage/crypto.py PREFIX)
        OR (OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
            AND (NEW.actor_id IS OLD.actor_id OR NEW.actor_id IS NULL)
            AND (NOT json_valid(OLD.detail) OR (json_valid(NEW.detail)
                 AND json_patch(OLD.detail, NEW.detail) = json(OLD.detail))))
    )
)
BEGIN SELECT RAISE(ABORT, 'alert_events is append-only'); END;
