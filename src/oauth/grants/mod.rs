//! Token endpoint grants, one module each.

pub mod authorization_code;
