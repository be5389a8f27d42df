//! restage: build and refresh staging environments from production PostgreSQL.
//!
//! The data path is `source` (COPY TO, one exported snapshot) → `codec::decode` →
//! `sanitize` → `codec::encode` → `sink` (COPY FROM), wired by `pipeline`, the only module
//! that owns threads and channels. `app` wires the layers together per command.

pub mod app;
pub mod catalog;
pub mod cli;
pub mod codec;
pub mod conn;
pub mod exit;
pub mod fixture;
pub mod interrupt;
pub mod localpg;
pub mod lockwatch;
pub mod pgbin;
pub mod pgerr;
pub mod pipeline;
pub mod provision;
pub mod refresh;
pub mod report;
pub mod rules;
pub mod sanitize;
pub mod schema;
pub mod seed;
pub mod sink;
pub mod source;
pub mod subset;
pub mod verify;
