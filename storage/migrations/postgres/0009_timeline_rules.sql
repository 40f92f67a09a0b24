-- PostgreSQL's form of 0009_timeline_rules.sql (SQLite's JSON functions and IS between
-- values have other names here). Same rule: see that file.
DROP TRIGGER alert_events_append_only_u ON alert_events;
CREATE TRIGGER alert_events_append_only_u BEFORE UPDATE ON alert_events FOR EACH ROW
WHEN (NOT (
    NEW.id = OLD.id AND NEW.alert_id = OLD.alert_id AND NEW.at = OLD.at
    AND NEW.kind = OLD.kind
    AND (
        (NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
         AND NEW.redacted_at IS NOT DISTINCT FROM OLD.redacted_at
         AND substr(NEW.detail, 1, 3) = 'q1.')  -- sealed (storage/crypto.py PREFIX)
        OR (OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
            AND (NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id OR NEW.actor_id IS NULL)
            AND qorgau_json_only_loses(OLD.detail, NEW.detail))
    )
))
EXECUTE FUNCTION alert_events_append_only_u_fn();
