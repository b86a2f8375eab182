//! Short texts for details and logs.

use std::time::Duration;

/// `1.5s`: a duration with one decimal, as problem details show stalls.
pub fn fmt_secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
