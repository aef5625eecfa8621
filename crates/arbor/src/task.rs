//! The tokio task that carries one run of one node: wait out the backoff if there is one, run
//! the runnable with panics caught, and report how it ended. Exactly one `Exited` is sent per
//! task, unless the task is aborted at the end of a timed-out shutdown.
//!
//! A task's size is a node's largest cost (tokio rounds task cells up to 128 bytes), so an
//! immediate start, the common case, gets a future with no timer in it, and the node's span is
//! entered from the context rather than stored twice.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use crate::message::{Msg, Outcome};
use crate::{unwind, Context, RunFuture, Runnable};

/// Spawns the task for `ctx`'s run on the tree's runtime, and gives the context its abort
/// handle.
pub(crate) fn spawn(ctx: Context, runnable: Arc<dyn Runnable>, delay: Duration) {
    let task = if delay.is_zero() {
        let fut = CatchUnwind::start(&*runnable, ctx.clone());
        ctx.link().spawn(InSpan {
            ctx: ctx.clone(),
            fut: Report(fut),
        })
    } else {
        let fut: Delayed = Box::pin(after_backoff(ctx.clone(), runnable, delay));
        ctx.link().spawn(InSpan {
            ctx: ctx.clone(),
            fut,
        })
    };
    ctx.set_task(task.abort_handle());
}

/// Waits out the backoff, unless the node is told to stop meanwhile, then runs.
async fn after_backoff(ctx: Context, runnable: Arc<dyn Runnable>, delay: Duration) {
    let began = tokio::time::Instant::now();
    tokio::select! {
        biased;
        () = ctx.cancelled() => {
            ctx.end_run();
            return exited(&ctx, Outcome::NotStarted);
        }
        () = wait(began, delay) => {}
    }
    // Report the wait as it happened: the timer rounds up to its millisecond tick.
    ctx.send(Msg::Started {
        ctx: ctx.clone(),
        delay: began.elapsed(),
    });
    let result = CatchUnwind::start(&*runnable, ctx.clone()).await;
    report(&ctx, result);
}

/// tokio's timer resolution.
const TICK: Duration = Duration::from_millis(1);

/// How many times a wait shorter than a tick yields before it falls back to the timer.
const SPIN_LIMIT: u32 = 10_000;

/// Waits until `began + delay`. The timer would round a delay shorter than its tick up to a
/// whole millisecond; such a delay is waited by yielding to the runtime until the deadline
/// (at most one tick of a worker's time), then, if the clock has not moved (tokio's paused
/// clock only advances when the runtime is idle), by the timer.
async fn wait(began: tokio::time::Instant, delay: Duration) {
    let deadline = crate::clock::deadline(began, delay);
    if delay < TICK {
        for _ in 0..SPIN_LIMIT {
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::task::yield_now().await;
        }
    }
    tokio::time::sleep_until(deadline).await;
}

/// Polls `fut` inside the node's span, and reports the outcome of a run when it has one.
struct InSpan<F> {
    ctx: Context,
    fut: F,
}

/// Marks a future whose output is a run's result, which [`InSpan`] reports when it completes.
struct Report(CatchUnwind);

trait Finish: Future + Unpin {
    fn finish(ctx: &Context, output: Self::Output);
}

impl Finish for Report {
    fn finish(ctx: &Context, output: Self::Output) {
        report(ctx, output);
    }
}

impl Future for Report {
    type Output = Ended;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// A start after a backoff: rare, so boxed to keep the common task small.
type Delayed = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Finish for Delayed {
    fn finish(_ctx: &Context, (): ()) {}
}

impl<F: Finish> Future for InSpan<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = &mut *self;
        let _entered = this.ctx.span().enter();
        match Pin::new(&mut this.fut).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(output) => {
                F::finish(&this.ctx, output);
                Poll::Ready(())
            }
        }
    }
}

fn report(ctx: &Context, ended: Ended) {
    let end = ctx.end_run();
    let outcome = match ended {
        Ended::Returned(error) => Outcome::Returned {
            error,
            done_requested: end.done_requested,
            misused: end.misused,
        },
        Ended::Panicked(message) => Outcome::Panicked { message },
    };
    exited(ctx, outcome);
}

fn exited(ctx: &Context, outcome: Outcome) {
    // When a cancelled run really ended, so that shutdown can tell a run that returned late
    // (one that blocked its thread past the deadline) from one whose exit is merely queued.
    let at = ctx.is_cancelled().then(tokio::time::Instant::now);
    ctx.send(Msg::Exited {
        ctx: ctx.clone(),
        outcome,
        at,
    });
}

/// How a run ended, in terms that need no more user code: the error is already described, and
/// the future, with everything it owned, already dropped.
enum Ended {
    /// The runnable returned: `None` for `Ok(())`, else its error chain.
    Returned(Option<String>),
    Panicked(String),
}

/// Runs a runnable's future, turning a panic (in `run` itself, in any poll, in the drop of the
/// future or of its error, in the error's `Display`) into [`Ended::Panicked`].
///
/// The future is dropped as soon as it completes, before the end is reported: whatever it owns
/// (sockets, files, child processes) is gone by the time the node may start again, so two runs
/// of a node never overlap, not even in a destructor.
enum CatchUnwind {
    Running(RunFuture),
    Panicked(Option<String>),
    Finished,
}

impl CatchUnwind {
    fn start(runnable: &dyn Runnable, ctx: Context) -> Self {
        match unwind::catch(|| runnable.run(ctx)) {
            Ok(fut) => CatchUnwind::Running(fut),
            Err(message) => CatchUnwind::Panicked(Some(message)),
        }
    }

    /// Drops the finished (or panicked) future, and says if its drop panicked.
    fn drop_future(&mut self) -> Result<(), String> {
        unwind::drop_guarded(std::mem::replace(self, CatchUnwind::Finished))
    }
}

impl Future for CatchUnwind {
    type Output = Ended;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Ended> {
        let this = self.get_mut();
        match this {
            CatchUnwind::Running(fut) => match unwind::catch(|| fut.as_mut().poll(cx)) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(result)) => {
                    let dropped = this.drop_future();
                    Poll::Ready(ended(result, dropped))
                }
                Err(message) => {
                    // The future that panicked is given up; its drop may panic again.
                    let _ = this.drop_future();
                    Poll::Ready(Ended::Panicked(message))
                }
            },
            CatchUnwind::Panicked(message) => Poll::Ready(Ended::Panicked(
                message
                    .take()
                    .unwrap_or_else(|| "polled after a panic".to_owned()),
            )),
            CatchUnwind::Finished => {
                Poll::Ready(Ended::Panicked("polled after it ended".to_owned()))
            }
        }
    }
}

/// What a returned run means, once its future has been dropped (`dropped`).
fn ended(result: anyhow::Result<()>, dropped: Result<(), String>) -> Ended {
    let error = match result {
        Ok(()) => None,
        Err(err) => {
            let described = unwind::describe(&err);
            if let Err(message) = unwind::drop_guarded(err) {
                return Ended::Panicked(format!(
                    "{message} (while dropping its error: {described})"
                ));
            }
            Some(described)
        }
    };
    match dropped {
        Ok(()) => Ended::Returned(error),
        Err(message) => Ended::Panicked(format!("{message} (while dropping its future)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_sub_tick_wait_ends_even_on_a_paused_clock() {
        // The clock does not move while the task yields; the wait falls back to the timer.
        let began = Instant::now();
        wait(began, Duration::from_micros(300)).await;
        assert!(began.elapsed() >= Duration::from_micros(300));
    }

    #[tokio::test]
    async fn a_sub_tick_wait_waits_at_least_its_delay() {
        let began = Instant::now();
        wait(began, Duration::from_micros(50)).await;
        let waited = began.elapsed();
        assert!(waited >= Duration::from_micros(50), "{waited:?}");
    }
}
