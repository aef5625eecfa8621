//! What a component is: a name, the names of its inputs, and the code that runs with them.

use std::future::Future;
use std::sync::Arc;

use arbor::{Context, RunFuture};

use crate::Io;

/// The code of a component: like an [`arbor::Runnable`], with its inputs and its output.
///
/// Any `Fn(Context, Io) -> impl Future<Output = anyhow::Result<()>>` that is
/// `Send + Sync + 'static` is a worker. Its run is an ordinary node's run: it signals Healthy,
/// serves until [`Context::cancelled`], and may start children. How it ends decides what
/// follows: see the [crate docs](crate#outcomes).
pub trait Worker: Send + Sync + 'static {
    /// Starts one run, with the inputs as they were when it began.
    fn run(&self, ctx: Context, io: Io) -> RunFuture;
}

impl<F, Fut> Worker for F
where
    F: Fn(Context, Io) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    fn run(&self, ctx: Context, io: Io) -> RunFuture {
        Box::pin(self(ctx, io))
    }
}

/// A component to [`install`](crate::Engine::install): a name (a node name, as
/// [`arbor::Name`]), the components whose outputs it needs, and its worker.
///
/// # Examples
///
/// ```
/// use arbor::{Context, Signal};
/// use arbor_engine::{Component, Io};
///
/// async fn api(ctx: Context, io: Io) -> anyhow::Result<()> {
///     let pool = io.input::<String>("db")?; // what `db` published
///     tracing::info!(%pool, "serving");
///     ctx.signal(Signal::Healthy)?;
///     ctx.cancelled().await;
///     Ok(())
/// }
///
/// let api = Component::new("api", api).input("db");
/// ```
#[must_use = "a component does nothing until it is installed"]
pub struct Component {
    pub(crate) name: String,
    pub(crate) inputs: Vec<String>,
    pub(crate) worker: Arc<dyn Worker>,
}

impl Component {
    /// A component called `name`, with no inputs yet.
    pub fn new(name: impl Into<String>, worker: impl Worker) -> Self {
        Component {
            name: name.into(),
            inputs: Vec::new(),
            worker: Arc::new(worker),
        }
    }

    /// Needs the output of the component `name`: it starts only once that one runs and has
    /// published, and is bounced whenever it starts, stops or publishes again.
    pub fn input(mut self, name: impl Into<String>) -> Self {
        self.inputs.push(name.into());
        self
    }
}

impl std::fmt::Debug for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Component")
            .field("name", &self.name)
            .field("inputs", &self.inputs)
            .finish_non_exhaustive()
    }
}
