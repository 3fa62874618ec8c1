DROP INDEX clients_org;
ALTER TABLE clients DROP COLUMN disabled;
ALTER TABLE clients DROP COLUMN org_signin;
ALTER TABLE clients DROP COLUMN org_id;
DROP TABLE org_invitations;
DROP TABLE api_keys;

CREATE TABLE user_roles (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id    TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, role_id)
);
INSERT INTO roles (id, name, description, parent_id, builtin, created_at, updated_at)
VALUES ('admin', 'admin', 'Full administrative access', NULL, FALSE, 0, 0);
INSERT INTO user_roles (user_id, role_id, created_at)
SELECT a.user_id, CASE WHEN a.role_id = 'super_admin' THEN 'admin' ELSE a.role_id END, MIN(a.created_at)
FROM role_assignments a JOIN roles r ON r.id = a.role_id
WHERE a.user_id IS NOT NULL AND a.org_id IS NULL AND r.org_id IS NULL
  AND (r.builtin = FALSE OR r.id = 'super_admin')
GROUP BY 1, 2;
DROP TABLE role_assignments;
DROP TABLE role_permissions;
UPDATE roles SET parent_id = 'admin' WHERE parent_id = 'super_admin';
UPDATE roles SET parent_id = NULL WHERE parent_id IN (SELECT id FROM roles WHERE builtin OR org_id IS NOT NULL);
DELETE FROM roles WHERE org_id IS NOT NULL;
DELETE FROM roles WHERE builtin;
DROP INDEX roles_parent;
DROP INDEX roles_org_name;
DROP INDEX roles_global_name;
ALTER TABLE roles DROP COLUMN updated_at;
ALTER TABLE roles DROP COLUMN builtin;
ALTER TABLE roles DROP COLUMN org_id;
ALTER TABLE roles DROP CONSTRAINT roles_parent_id_fkey;
ALTER TABLE roles ADD CONSTRAINT roles_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES roles (id) ON DELETE SET NULL;
ALTER TABLE roles ADD CONSTRAINT roles_name_key UNIQUE (name);

DROP TABLE org_members;
DROP TABLE organizations;
