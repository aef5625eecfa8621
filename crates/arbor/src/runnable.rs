//! What the tree supervises.

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
/// until [`Context::cancelled`] completes, then return. What each way of returning means:
///
/// | returns | while | the node becomes |
/// |---|---|---|
/// | anything | cancelled | Canceled, restarted once due (after its group's backoff, if owed) |
/// | `Ok(())` | after `signal(Done)` | Done, not restarted |
/// | `Ok(())` or `Err(_)` | New or Healthy | Dead, restarted after backoff |
/// | `Err(_)` | after `signal(Done)` | Dead |
/// | panics | any | Dead (or the supervisor stops, with `propagate_panics`) |
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
