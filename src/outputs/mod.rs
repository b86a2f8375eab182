//! Outputs: everything that shows results. The status board holds the latest
//! state of every address; metrics and the status API read and format it.
//! Only this layer formats; it never decides problems.

pub mod badge;
pub mod bars;
pub mod board;
pub mod chunks;
pub mod history;
pub mod metrics;
pub mod page;
pub mod registry;
pub mod series;
pub mod site_series;
pub mod status;
