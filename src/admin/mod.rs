//! Administration: who may change what (RBAC with inheritance, organizations, just-in-time
//! grants) and how automation gets in (API keys). The console and the JSON API are thin HTTP
//! layers over this module; the CLI calls it too, as the operator, who needs no permission.

pub mod api_keys;
pub mod error;
pub mod orgs;
pub mod permissions;
pub mod rbac;
pub mod roles;

pub use error::AdminError;
pub use permissions::Permission;
pub use rbac::{effective_permissions, permissions_of_role, Grants, Holder, Scope};
