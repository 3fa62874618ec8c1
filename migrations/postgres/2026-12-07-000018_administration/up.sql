-- Administration: organizations, RBAC with inheritance, just-in-time grants, API keys.

-- Organizations (tenants). name is the stable lower-case handle used by `--org` and the
-- `organization` authorization parameter; display_name is what people read.
CREATE TABLE organizations (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE org_members (
    org_id    TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members (user_id);

-- Roles become global (org_id NULL) or an organization's own, built-in or custom.
ALTER TABLE roles DROP CONSTRAINT roles_name_key;
ALTER TABLE roles DROP CONSTRAINT roles_parent_id_fkey;
ALTER TABLE roles ADD CONSTRAINT roles_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES roles (id);
ALTER TABLE roles ADD COLUMN org_id TEXT REFERENCES organizations (id) ON DELETE CASCADE;
ALTER TABLE roles ADD COLUMN builtin BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE roles ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE roles SET updated_at = created_at;
CREATE UNIQUE INDEX roles_global_name ON roles (name) WHERE org_id IS NULL;
CREATE UNIQUE INDEX roles_org_name ON roles (org_id, name) WHERE org_id IS NOT NULL;
CREATE INDEX roles_parent ON roles (parent_id);

-- Roles made before this version stay as global custom roles; a name taken by a built-in
-- role gets a suffix. The old built-in 'admin' becomes super_admin.
UPDATE roles SET name = name || '_custom'
WHERE name IN ('super_admin', 'org_admin', 'auditor', 'member')
  AND id NOT IN ('super_admin', 'org_admin', 'auditor', 'member');
INSERT INTO roles (id, org_id, name, description, parent_id, builtin, created_at, updated_at) VALUES
    ('super_admin', NULL, 'super_admin', 'Every permission, everywhere', NULL, TRUE, 0, 0),
    ('org_admin', NULL, 'org_admin', 'Manages an organization: its clients, users, roles, members and API keys', NULL, TRUE, 0, 0),
    ('auditor', NULL, 'auditor', 'Reads everything in its scope, changes nothing', NULL, TRUE, 0, 0),
    ('member', NULL, 'member', 'Belongs to an organization; no administrative permission', NULL, TRUE, 0, 0);
UPDATE roles SET parent_id = 'super_admin' WHERE parent_id = 'admin';
-- Every permission of a custom role, by its name in the catalogue (src/admin/permissions.rs).
-- Built-in roles have no rows: their permissions are defined in code, so an upgrade that
-- adds a permission gives it to them without a migration.
CREATE TABLE role_permissions (
    role_id    TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);

-- Who holds which role, where (org_id NULL: everywhere), since when (created_at), until when
-- (expires_at, for just-in-time grants; NULL: until revoked), why (reason), granted by whom,
-- and when it last allowed something (last_used_at, for the access review). The holder is a
-- user or a client acting as a service account (client_credentials), never both.
CREATE TABLE role_assignments (
    id           TEXT PRIMARY KEY,
    role_id      TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    client_id    TEXT REFERENCES clients (client_id) ON DELETE CASCADE,
    org_id       TEXT REFERENCES organizations (id) ON DELETE CASCADE,
    reason       TEXT,
    granted_by   TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    CHECK ((user_id IS NULL) <> (client_id IS NULL))
);
-- One assignment per holder, role and scope: granting again extends or shortens it.
CREATE UNIQUE INDEX role_assignments_unique
    ON role_assignments (role_id, COALESCE(user_id, ''), COALESCE(client_id, ''), COALESCE(org_id, ''));
CREATE INDEX role_assignments_user ON role_assignments (user_id);
CREATE INDEX role_assignments_client ON role_assignments (client_id);
CREATE INDEX role_assignments_org ON role_assignments (org_id);
CREATE INDEX role_assignments_expires ON role_assignments (expires_at);

-- API keys: "pcl_" + id + "_" + a 256-bit secret. Only SHA-256 hashes of secrets are kept.
-- A rotation keeps the previous secret valid until previous_expires_at (the overlap). The key
-- acts with its role's permissions (in org_id when set), never more than its owner holds at
-- the time of use; a key without an owner was made by the operator on the command line.
CREATE TABLE api_keys (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    secret_hash          TEXT NOT NULL,
    previous_secret_hash TEXT,
    previous_expires_at  BIGINT,
    owner_user_id        TEXT REFERENCES users (id) ON DELETE CASCADE,
    owner_client_id      TEXT REFERENCES clients (client_id) ON DELETE CASCADE,
    role_id              TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    org_id               TEXT REFERENCES organizations (id) ON DELETE CASCADE,
    allowed_cidrs        TEXT NOT NULL DEFAULT '[]',
    created_by           TEXT,
    created_at           BIGINT NOT NULL,
    expires_at           BIGINT,
    revoked_at           BIGINT,
    last_used_at         BIGINT,
    last_used_ip         TEXT
);
CREATE INDEX api_keys_owner_user ON api_keys (owner_user_id);
CREATE INDEX api_keys_owner_client ON api_keys (owner_client_id);
CREATE INDEX api_keys_org ON api_keys (org_id);

-- Invitations to join an organization with a role: a single-use link mailed to the address.
CREATE TABLE org_invitations (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    role_id     TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    invited_by  TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    accepted_at BIGINT,
    accepted_by TEXT REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX org_invitations_org ON org_invitations (org_id);

-- A client may belong to an organization (deleting the organization is refused while it owns
-- clients). org_signin: 'members' signs in only members; 'join' signs in anyone and makes them
-- a member on first sign-in. A disabled client is refused at every endpoint.
ALTER TABLE clients ADD COLUMN org_id TEXT REFERENCES organizations (id);
ALTER TABLE clients ADD COLUMN org_signin TEXT NOT NULL DEFAULT 'members';
ALTER TABLE clients ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX clients_org ON clients (org_id);

INSERT INTO role_assignments (id, role_id, user_id, client_id, org_id, reason, granted_by, created_at)
SELECT md5(random()::text || clock_timestamp()::text || user_id || role_id),
       CASE WHEN role_id = 'admin' THEN 'super_admin' ELSE role_id END,
       user_id, NULL, NULL, NULL, NULL, created_at
FROM user_roles;
DROP TABLE user_roles;
DELETE FROM roles WHERE id = 'admin';
