-- Insight (SPEC 11, issue 15): the per-pass timeline and the per-template statistics.
--
-- Everything a row change means is written by triggers, in the transaction of the change: the
-- pass writers, the registrar, the rollout worker and the push recorder already group-commit
-- their writes, so the timeline and the counters ride on those commits, and no path that
-- touches passes, registrations or install markers (cascades included) can forget them. What
-- is not a row change (a device asking for serials, fetching a pass, a download, a log line)
-- is appended by the domain's insight writer, one transaction per batch.
--
-- Statistics are counters, never a scan: `template_totals` (one row per template),
-- `template_daily` (one row per template and UTC day), `template_devices` (how many of a
-- template's passes each device holds, so "distinct devices" is a counter too).

-- The timeline cap (entries per pass), set from the server's settings at start.
CREATE TABLE insight_settings (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    timeline_cap INTEGER NOT NULL
);
INSERT INTO insight_settings (id, timeline_cap) VALUES (1, 200);

-- n: the entry's number within its pass (1, 2, …), so the cap is a range delete on
-- (pass_id, n) and costs a row or two per insert, never a count.
CREATE TABLE pass_timeline (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    pass_id TEXT NOT NULL REFERENCES passes (id) ON DELETE CASCADE,
    n       INTEGER NOT NULL,
    at      INTEGER NOT NULL,                                  -- Unix milliseconds
    type    TEXT NOT NULL,
    detail  TEXT NOT NULL                                      -- JSON object
);
CREATE INDEX pass_timeline_by_pass ON pass_timeline (pass_id, seq);
CREATE INDEX pass_timeline_by_pass_n ON pass_timeline (pass_id, n);

CREATE TABLE template_totals (
    template_id   TEXT PRIMARY KEY,
    passes        INTEGER NOT NULL DEFAULT 0,
    voided        INTEGER NOT NULL DEFAULT 0,
    installed     INTEGER NOT NULL DEFAULT 0,
    devices       INTEGER NOT NULL DEFAULT 0,
    pushes_sent   INTEGER NOT NULL DEFAULT 0,
    pushes_failed INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE template_daily (
    template_id TEXT NOT NULL,
    day         TEXT NOT NULL,                                 -- YYYY-MM-DD, UTC
    issued      INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    installed   INTEGER NOT NULL DEFAULT 0,
    uninstalled INTEGER NOT NULL DEFAULT 0,
    downloads   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (template_id, day)
);

CREATE TABLE template_devices (
    template_id               TEXT NOT NULL,
    device_library_identifier TEXT NOT NULL,
    passes                    INTEGER NOT NULL,
    PRIMARY KEY (template_id, device_library_identifier)
);

-- What is stored already (one scan, at migration only).
INSERT INTO template_totals (template_id, passes, voided, installed)
SELECT t.id,
       (SELECT COUNT(*) FROM passes p WHERE p.template_id = t.id),
       (SELECT COUNT(*) FROM passes p WHERE p.template_id = t.id AND p.voided),
       (SELECT COUNT(*) FROM pass_installs i JOIN passes p ON p.id = i.pass_id WHERE p.template_id = t.id)
FROM templates t;
INSERT INTO template_devices (template_id, device_library_identifier, passes)
SELECT p.template_id, r.device_library_identifier, COUNT(*)
FROM registrations r JOIN passes p ON p.id = r.pass_id
GROUP BY p.template_id, r.device_library_identifier;
UPDATE template_totals SET devices =
    (SELECT COUNT(*) FROM template_devices d WHERE d.template_id = template_totals.template_id);
INSERT INTO template_daily (template_id, day, issued)
SELECT template_id, strftime('%Y-%m-%d', created_at / 1000, 'unixepoch'), COUNT(*)
FROM passes GROUP BY 1, 2;

-- The cap: an entry beyond it drops the pass's oldest.
CREATE TRIGGER insight_timeline_capped AFTER INSERT ON pass_timeline BEGIN
    DELETE FROM pass_timeline WHERE pass_id = NEW.pass_id
        AND n <= NEW.n - (SELECT timeline_cap FROM insight_settings WHERE id = 1);
END;

CREATE TRIGGER insight_template_added AFTER INSERT ON templates BEGIN
    INSERT INTO template_totals (template_id) VALUES (NEW.id) ON CONFLICT (template_id) DO NOTHING;
END;

-- Before the template's passes cascade away: their triggers then find no counters to touch.
CREATE TRIGGER insight_template_removed BEFORE DELETE ON templates BEGIN
    DELETE FROM template_totals WHERE template_id = OLD.id;
    DELETE FROM template_daily WHERE template_id = OLD.id;
    DELETE FROM template_devices WHERE template_id = OLD.id;
END;

CREATE TRIGGER insight_pass_added AFTER INSERT ON passes BEGIN
    UPDATE template_totals SET passes = passes + 1,
        voided = voided + (CASE WHEN NEW.voided THEN 1 ELSE 0 END)
        WHERE template_id = NEW.template_id;
    INSERT INTO template_daily (template_id, day, issued)
        SELECT template_id, strftime('%Y-%m-%d', NEW.created_at / 1000, 'unixepoch'), 1
        FROM template_totals WHERE template_id = NEW.template_id
        ON CONFLICT (template_id, day) DO UPDATE SET issued = template_daily.issued + 1;
    INSERT INTO pass_timeline (pass_id, n, at, type, detail)
        VALUES (NEW.id, 1, NEW.created_at, 'created',
                json_object('serialNumber', NEW.serial_number, 'tag', CAST(NEW.update_tag AS TEXT)));
END;

-- A new pass is inserted with tag 0 and given its first tag in the same transaction: that is
-- its creation's tag, not an update.
CREATE TRIGGER insight_pass_tagged AFTER UPDATE OF update_tag ON passes
WHEN OLD.update_tag = 0 AND NEW.update_tag <> 0 BEGIN
    UPDATE pass_timeline SET detail = json_object('serialNumber', NEW.serial_number,
                                                  'tag', CAST(NEW.update_tag AS TEXT))
        WHERE pass_id = NEW.id AND n = 1 AND type = 'created';
END;

CREATE TRIGGER insight_pass_updated AFTER UPDATE OF update_tag ON passes
WHEN NEW.update_tag <> OLD.update_tag AND OLD.update_tag <> 0 BEGIN
    INSERT INTO template_daily (template_id, day, updated)
        SELECT template_id, strftime('%Y-%m-%d', 'now'), 1
        FROM template_totals WHERE template_id = NEW.template_id
        ON CONFLICT (template_id, day) DO UPDATE SET updated = template_daily.updated + 1;
    INSERT INTO pass_timeline (pass_id, n, at, type, detail)
        VALUES (NEW.id,
                COALESCE((SELECT MAX(n) FROM pass_timeline WHERE pass_id = NEW.id), 0) + 1,
                CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), 'updated',
                json_object('tag', CAST(NEW.update_tag AS TEXT),
                            'lastModified', NEW.last_modified));
END;

CREATE TRIGGER insight_pass_voided AFTER UPDATE OF voided ON passes
WHEN NEW.voided <> OLD.voided BEGIN
    UPDATE template_totals SET voided = voided + (CASE WHEN NEW.voided THEN 1 ELSE -1 END)
        WHERE template_id = NEW.template_id;
    INSERT INTO pass_timeline (pass_id, n, at, type, detail)
        VALUES (NEW.id,
                COALESCE((SELECT MAX(n) FROM pass_timeline WHERE pass_id = NEW.id), 0) + 1,
                CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER),
                CASE WHEN NEW.voided THEN 'voided' ELSE 'unvoided' END, '{}');
END;

-- A pass's registrations and install marker go first, while the pass is still there for their
-- triggers to find its template (a cascade would run after the pass is gone).
CREATE TRIGGER insight_pass_removed BEFORE DELETE ON passes BEGIN
    DELETE FROM registrations WHERE pass_id = OLD.id;
    DELETE FROM pass_installs WHERE pass_id = OLD.id;
    UPDATE template_totals SET passes = passes - 1,
        voided = voided - (CASE WHEN OLD.voided THEN 1 ELSE 0 END)
        WHERE template_id = OLD.template_id;
END;

CREATE TRIGGER insight_registration_added AFTER INSERT ON registrations BEGIN
    UPDATE template_totals SET devices = devices + 1
        WHERE template_id = (SELECT template_id FROM passes WHERE id = NEW.pass_id)
        AND NOT EXISTS (SELECT 1 FROM template_devices d
                        WHERE d.template_id = template_totals.template_id
                        AND d.device_library_identifier = NEW.device_library_identifier);
    INSERT INTO template_devices (template_id, device_library_identifier, passes)
        SELECT t.template_id, NEW.device_library_identifier, 1 FROM template_totals t
        WHERE t.template_id = (SELECT template_id FROM passes WHERE id = NEW.pass_id)
        ON CONFLICT (template_id, device_library_identifier)
        DO UPDATE SET passes = template_devices.passes + 1;
    INSERT INTO pass_timeline (pass_id, n, at, type, detail)
        VALUES (NEW.pass_id,
                COALESCE((SELECT MAX(n) FROM pass_timeline WHERE pass_id = NEW.pass_id), 0) + 1,
                NEW.updated_at, 'registered',
                json_object('deviceLibraryIdentifier', NEW.device_library_identifier));
END;

CREATE TRIGGER insight_registration_refreshed AFTER UPDATE ON registrations BEGIN
    INSERT INTO pass_timeline (pass_id, n, at, type, detail)
        VALUES (NEW.pass_id,
                COALESCE((SELECT MAX(n) FROM pass_timeline WHERE pass_id = NEW.pass_id), 0) + 1,
                NEW.updated_at, 'reregistered',
                json_object('deviceLibraryIdentifier', NEW.device_library_identifier,
                            'pushTokenChanged', json(CASE WHEN NEW.push_token <> OLD.push_token
                                                     THEN 'true' ELSE 'false' END)));
END;

CREATE TRIGGER insight_registration_removed AFTER DELETE ON registrations BEGIN
    UPDATE template_devices SET passes = passes - 1
        WHERE template_id = (SELECT template_id FROM passes WHERE id = OLD.pass_id)
        AND device_library_identifier = OLD.device_library_identifier;
    UPDATE template_totals SET devices = devices - 1
        WHERE template_id = (SELECT template_id FROM passes WHERE id = OLD.pass_id)
        AND EXISTS (SELECT 1 FROM template_devices d
                    WHERE d.template_id = template_totals.template_id
                    AND d.device_library_identifier = OLD.device_library_identifier
                    AND d.passes <= 0);
    DELETE FROM template_devices
        WHERE template_id = (SELECT template_id FROM passes WHERE id = OLD.pass_id)
        AND device_library_identifier = OLD.device_library_identifier AND passes <= 0;
    INSERT INTO pass_timeline (pass_id, n, at, type, detail)
        SELECT p.id,
               COALESCE((SELECT MAX(n) FROM pass_timeline WHERE pass_id = p.id), 0) + 1,
               CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), 'unregistered',
               json_object('deviceLibraryIdentifier', OLD.device_library_identifier)
        FROM passes p WHERE p.id = OLD.pass_id;
END;

CREATE TRIGGER insight_install_added AFTER INSERT ON pass_installs BEGIN
    UPDATE template_totals SET installed = installed + 1
        WHERE template_id = (SELECT template_id FROM passes WHERE id = NEW.pass_id);
    INSERT INTO template_daily (template_id, day, installed)
        SELECT t.template_id, strftime('%Y-%m-%d', 'now'), 1 FROM template_totals t
        WHERE t.template_id = (SELECT template_id FROM passes WHERE id = NEW.pass_id)
        ON CONFLICT (template_id, day) DO UPDATE SET installed = template_daily.installed + 1;
    INSERT INTO pass_timeline (pass_id, n, at, type, detail)
        VALUES (NEW.pass_id,
                COALESCE((SELECT MAX(n) FROM pass_timeline WHERE pass_id = NEW.pass_id), 0) + 1,
                CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), 'installed', '{}');
END;

CREATE TRIGGER insight_install_removed AFTER DELETE ON pass_installs BEGIN
    UPDATE template_totals SET installed = installed - 1
        WHERE template_id = (SELECT template_id FROM passes WHERE id = OLD.pass_id);
    INSERT INTO template_daily (template_id, day, uninstalled)
        SELECT t.template_id, strftime('%Y-%m-%d', 'now'), 1 FROM template_totals t
        WHERE t.template_id = (SELECT template_id FROM passes WHERE id = OLD.pass_id)
        ON CONFLICT (template_id, day) DO UPDATE SET uninstalled = template_daily.uninstalled + 1;
    INSERT INTO pass_timeline (pass_id, n, at, type, detail)
        SELECT p.id,
               COALESCE((SELECT MAX(n) FROM pass_timeline WHERE pass_id = p.id), 0) + 1,
               CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), 'uninstalled', '{}'
        FROM passes p WHERE p.id = OLD.pass_id;
END;
