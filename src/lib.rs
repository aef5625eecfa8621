//! Holds the workspace examples (`examples/`) and cross-crate scenario tests (`tests/`).
