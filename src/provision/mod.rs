//! `restage provision`: the staging database and its roles, per-environment secrets that
//! never overlap with production, and the Kubernetes namespace bundle, applied or rendered
//! for GitOps. Independent of the data path: this module never imports `pipeline`.
//!
//! - [`spec`], [`shape`] and [`validate`]: the environment spec (TOML) and its diagnostics;
//! - [`guards`]: refuse production as the target, production values as staging secrets;
//! - [`postgres`] and [`scram`]: roles, database, grants, idempotently;
//! - [`secrets`]: generated, supplied and derived values;
//! - [`bundle`], [`seal`], [`cronjob`]: Kubernetes objects ([`quantity`]: comparing resources);
//!   [`template`]: assembled keys;
//! - [`deliver`]: apply, GitOps directory, dotenv, JSON;
//! - [`plan`]: what changes, one line per object.

pub mod bundle;
pub mod cronjob;
pub mod deliver;
pub mod guards;
pub mod plan;
pub mod postgres;
pub mod quantity;
pub mod scram;
pub mod seal;
pub mod secrets;
pub mod shape;
pub mod spec;
pub mod template;
pub mod validate;
