//! The engine's errors.

/// Why a component could not be installed or uninstalled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The name is not a valid node name.
    #[error(transparent)]
    InvalidName(#[from] arbor::NameError),
    /// A component of this name is installed already.
    #[error("a component named {name:?} is installed already")]
    Duplicate {
        /// The name.
        name: String,
    },
    /// Its inputs would close a cycle: the path, from the component back to itself.
    #[error("installing {:?} would close the cycle {}", path[0], path.join(" <- "))]
    Cycle {
        /// `name, input, ..., name`.
        path: Vec<String>,
    },
    /// No component of this name is installed.
    #[error("no component named {name:?} is installed")]
    NotInstalled {
        /// The name.
        name: String,
    },
    /// The tree refused the component's node (e.g. the old node of that name is still
    /// leaving the tree).
    #[error(transparent)]
    Tree(#[from] arbor::Error),
}

/// Why a component could not get one of its inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The component did not declare this input.
    #[error("{input:?} is not an input of this component")]
    NotDeclared {
        /// The name asked for.
        input: String,
    },
    /// The provider's output is not of the type asked for.
    #[error("input {input:?} is not a {expected}")]
    WrongType {
        /// The input.
        input: String,
        /// The type asked for.
        expected: &'static str,
    },
}
