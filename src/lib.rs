//! Holds the quickstart example (`examples/`) and the core's scenario tests (`tests/`).
//! Each adapter keeps its own example in its crate, so that running one builds only what it shows.
