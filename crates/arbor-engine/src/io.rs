//! What a component's run gets: its inputs' values, a way to publish its own output, and its
//! engine.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use crate::{Engine, InputError};

/// A published value, shared by every dependent that gets it.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// A component run's inputs and output, given to its [`Worker`](crate::Worker).
///
/// The inputs are those of the moment the run began: if a provider changes, the run is
/// bounced and the next one gets the new values, so a run never sees a mix of old and new.
#[derive(Clone)]
pub struct Io {
    pub(crate) name: String,
    /// The run this handle belongs to (the component's start count).
    pub(crate) run: u64,
    pub(crate) inputs: HashMap<String, Value>,
    pub(crate) engine: Engine,
}

impl Io {
    /// The output of the input `name`, as a `T`.
    ///
    /// # Errors
    ///
    /// [`InputError::NotDeclared`] for a name the component did not declare, and
    /// [`InputError::WrongType`] if the provider published something else.
    pub fn input<T: Any + Send + Sync>(&self, name: &str) -> Result<Arc<T>, InputError> {
        let value = self
            .inputs
            .get(name)
            .ok_or_else(|| InputError::NotDeclared {
                input: name.to_owned(),
            })?;
        value
            .clone()
            .downcast::<T>()
            .map_err(|_| InputError::WrongType {
                input: name.to_owned(),
                expected: std::any::type_name::<T>(),
            })
    }

    /// Publishes this run's output: its dependents waiting for it start, and those running on
    /// an earlier value are bounced. Publishing again replaces it (and bounces them again).
    /// The output is withdrawn when the run ends. A handle of an earlier run publishes nothing.
    pub fn publish<T: Any + Send + Sync>(&self, value: T) {
        self.engine.publish(&self.name, self.run, Arc::new(value));
    }

    /// The inputs' names, for the status note.
    pub(crate) fn inputs_list(&self) -> String {
        let mut names: Vec<&str> = self.inputs.keys().map(String::as_str).collect();
        names.sort_unstable();
        names.join(",")
    }

    /// The engine this component runs in, to install or uninstall components from inside.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut inputs: Vec<&String> = self.inputs.keys().collect();
        inputs.sort();
        f.debug_struct("Io")
            .field("component", &self.name)
            .field("run", &self.run)
            .field("inputs", &inputs)
            .finish()
    }
}
