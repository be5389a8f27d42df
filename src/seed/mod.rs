//! Synthetic rows: a seed plan (TOML) resolved against the target into per-column generators,
//! produced on demand as PGCOPY batches for the pipeline (a generated read end instead of a
//! source database), so seeding shares the clone's batch → encode → COPY sink path.
//!
//! Column values come from the sanitizer rules themselves, fed a synthetic input built from
//! the row number under a key derived from the plan's seed: same plan + same seed, same rows.

pub mod columns;
pub mod plan;
pub mod resolve;
pub mod rows;
pub mod suggest;
pub mod target;

pub use plan::SeedPlan;
pub use resolve::{resolve, ResolveError};
pub use rows::Seeder;
