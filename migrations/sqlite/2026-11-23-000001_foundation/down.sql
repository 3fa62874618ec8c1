DROP TABLE audit_events;
DROP TABLE one_time_tokens;
DROP TABLE sessions;
DROP TABLE clients;
DROP TABLE user_roles;
DROP TABLE roles;
DROP TABLE users;
