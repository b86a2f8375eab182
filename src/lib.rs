//! mirrorwatch: watches a news site's main domain and its mirrors.
//!
//! The pipeline, one module each: [`config`] → [`scheduler`] → [`pipeline`]
//! ([`checks`]: dns, connect, tls, http → [`parity`] → [`verdict`]) →
//! [`outputs`] (metrics, status) →
//! [`server`]. [`daemon`] wires them and owns shutdown; [`world`] is the
//! simulated mirror network the tests and `demo` share.
//! See ARCHITECTURE.md for the invariants.

pub mod admin;
pub mod alerts;
pub mod checks;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod fuzzing;
pub mod ground;
pub mod outputs;
pub mod parity;
pub mod pipeline;
pub mod probe;
pub mod scheduler;
pub mod server;
pub mod store;
pub mod verdict;
pub mod world;
