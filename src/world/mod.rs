//! The simulated mirror network (filled in below).
