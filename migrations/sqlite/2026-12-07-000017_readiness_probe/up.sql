-- One row that the readiness probe of every instance updates each round: /readyz reports
-- not ready while this write fails (a locked SQLite database, a full disk, a read-only or
-- unreachable server), not only while reads do.
CREATE TABLE readiness_probe (
    id INTEGER PRIMARY KEY,
    probed_at BIGINT NOT NULL
);
INSERT INTO readiness_probe (id, probed_at) VALUES (1, 0);
