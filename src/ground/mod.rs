//! The ground floor: small helpers every layer may use, which use nothing
//! of mirrorwatch's own. Time formats (`time`), size-capped file reads and
//! PEM (`files`), the TLS crypto provider and the server TLS config
//! (`crypto`), registered domains (`domain`), a fixed hash (`hash`) and
//! short texts (`text`), special-purpose address ranges (`bogon`), and
//! what the daemon asks of the allocator (`memory`).

pub mod bogon;
pub mod crypto;
pub mod domain;
pub mod files;
pub mod hash;
pub mod memory;
pub mod text;
pub mod time;
