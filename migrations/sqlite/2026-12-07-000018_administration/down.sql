DROP INDEX clients_org;
ALTER TABLE clients DROP COLUMN disabled;
ALTER TABLE clients DROP COLUMN org_signin;
ALTER TABLE clients DROP COLUMN org_id;
DROP TABLE org_invitations;
DROP TABLE api_keys;

CREATE TEMP TABLE new_assignments AS
    SELECT user_id, role_id, MIN(created_at) AS created_at FROM role_assignments
    WHERE user_id IS NOT NULL AND org_id IS NULL GROUP BY user_id, role_id;
CREATE TEMP TABLE new_roles AS
    SELECT id, name, description, parent_id, created_at FROM roles
    WHERE org_id IS NULL AND builtin = 0;
DROP TABLE role_assignments;
DROP TABLE role_permissions;
DROP TABLE roles;

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    parent_id   TEXT REFERENCES roles (id) ON DELETE SET NULL,
    created_at  BIGINT NOT NULL
);
INSERT INTO roles (id, name, description, parent_id, created_at)
VALUES ('admin', 'admin', 'Full administrative access', NULL, 0);
INSERT INTO roles (id, name, description, parent_id, created_at)
SELECT id, name, description, NULL, created_at FROM new_roles;
UPDATE roles SET parent_id = (
    SELECT CASE WHEN n.parent_id = 'super_admin' THEN 'admin'
                WHEN n.parent_id IN (SELECT id FROM new_roles) THEN n.parent_id END
    FROM new_roles n WHERE n.id = roles.id
) WHERE id <> 'admin';

CREATE TABLE user_roles (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id    TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, role_id)
);
INSERT OR IGNORE INTO user_roles (user_id, role_id, created_at)
SELECT user_id, CASE WHEN role_id = 'super_admin' THEN 'admin' ELSE role_id END, created_at
FROM new_assignments
WHERE role_id = 'super_admin' OR role_id IN (SELECT id FROM new_roles);
DROP TABLE new_assignments;
DROP TABLE new_roles;

DROP TABLE org_members;
DROP TABLE organizations;
