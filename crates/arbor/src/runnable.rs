//! What the tree supervises: the trait a node's code implements, and its blanket impl for
//! async functions.

use std::future::Future;
use std::pin::Pin;

use crate::Context;

/// The future a [`Runnable`] returns for one run.
pub type RunFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'static>>;

/// Something the tree can run, and run again after every restart.
///
/// Any `Fn(Context) -> impl Future<Output = anyhow::Result<()>>` that is `Send + Sync + 'static`
/// is a runnable, so an `async fn(Context) -> anyhow::Result<()>` can be passed as is. Adapters
/// (a subprocess, a gRPC server) are plain values that implement this trait.
///
/// # Contract
///
/// [`run`](Runnable::run) is called once per (re)start, each time with a fresh [`Context`]. The
/// future should start its children while New, signal [`Healthy`](crate::Signal::Healthy), serve
/// until [`Context::cancelled`] completes, then return. How it returns decides the node's next
/// state, as rows 3–7 of the [state table](crate::NodeState#state-table) say: after being told
/// to stop, any return is Canceled (restarted once due); `Ok(())` after signalling
/// [`Done`](crate::Signal::Done) is Done (not restarted); any other return, and a panic at any
/// time, is Dead (restarted after backoff, or the supervisor stops, with
/// [`propagate_panics`](crate::Builder::propagate_panics)).
///
/// # Examples
///
/// ```
/// use arbor::{Context, RunFuture, Runnable, Signal};
///
/// /// A runnable value with configuration, rather than a closure.
/// struct Ticker { every: std::time::Duration }
///
/// impl Runnable for Ticker {
///     fn run(&self, ctx: Context) -> RunFuture {
///         let every = self.every;
///         Box::pin(async move {
///             ctx.signal(Signal::Healthy)?;
///             while !ctx.is_cancelled() {
///                 tokio::select! {
///                     _ = ctx.cancelled() => {}
///                     _ = tokio::time::sleep(every) => tracing::info!("tick"),
///                 }
///             }
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait Runnable: Send + Sync + 'static {
    /// Starts one run of this runnable.
    fn run(&self, ctx: Context) -> RunFuture;
}

impl<F, Fut> Runnable for F
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    fn run(&self, ctx: Context) -> RunFuture {
        Box::pin(self(ctx))
    }
}

/// A shared runnable is a runnable, so one value can be started under many names.
impl Runnable for std::sync::Arc<dyn Runnable> {
    fn run(&self, ctx: Context) -> RunFuture {
        (**self).run(ctx)
    }
}
