//! What an engine reports about its components.

/// The engine's state, from [`Engine::report`](crate::Engine::report).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineReport {
    /// The engine's node is running.
    pub running: bool,
    /// Every installed component, by name.
    pub components: Vec<ComponentReport>,
}

/// One component in an [`EngineReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComponentReport {
    /// Its name (its node is the engine's child of that name).
    pub name: String,
    /// The components whose outputs it needs.
    pub inputs: Vec<String>,
    /// A run of it is under way with its inputs.
    pub running: bool,
    /// Its current run has published an output.
    pub published: bool,
    /// How many runs began with all inputs available.
    pub starts: u64,
    /// The input it waits for, if it does.
    pub waiting_for: Option<String>,
    /// How its last failed run ended.
    pub last_error: Option<String>,
}

impl EngineReport {
    /// The component `name`, if installed.
    pub fn get(&self, name: &str) -> Option<&ComponentReport> {
        self.components.iter().find(|c| c.name == name)
    }
}
