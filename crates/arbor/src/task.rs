//! The tokio task that carries one run of one node: wait out the backoff if there is one, run
//! the runnable with panics caught, and report how it ended. Exactly one `Exited` is sent per
//! task, unless the task is aborted at the end of a timed-out shutdown.
//!
//! A task's size is a node's largest cost, so an immediate start, the common case, gets a
//! future with no timer in it (a start after a backoff is boxed), and the node's span is
//! entered from the context rather than stored twice. [`IMMEDIATE_TASK_SIZE`] holds the
//! figure, asserted at compile time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::clock::wait;
use crate::message::{Msg, Outcome};
use crate::node::Stamp;
use crate::unwind::{CatchUnwind, Ended};
use crate::{Context, Runnable};

/// Spawns the task for `ctx`'s run on the tree's runtime, and gives the context its abort
/// handle. With a `gate`, a start after a backoff asks the processor first, once the backoff
/// has passed (a restart that counts against a restart limit), and starts only if it says so.
pub(crate) fn spawn(
    ctx: Context,
    runnable: Arc<dyn Runnable>,
    delay: Duration,
    gate: Option<oneshot::Receiver<Go>>,
) {
    let task = if delay.is_zero() {
        match CatchUnwind::start(&*runnable, ctx.clone()) {
            Ok(fut) => ctx.link().spawn(InSpan {
                ctx: ctx.clone(),
                fut: Report(fut),
            }),
            // `run` itself panicked: the run's end is still reported from a task of its own.
            Err(message) => ctx.link().spawn(InSpan {
                ctx: ctx.clone(),
                fut: StartPanicked(Some(message)),
            }),
        }
    } else {
        let fut = Box::pin(after_backoff(ctx.clone(), runnable, delay, gate));
        ctx.link().spawn(InSpan {
            ctx: ctx.clone(),
            fut: Delayed(Some(fut)),
        })
    };
    ctx.set_task(task);
}

/// Waits out the backoff (and the processor's go-ahead, with a `gate`), unless the node is
/// told to stop meanwhile, then runs.
async fn after_backoff(
    ctx: Context,
    runnable: Arc<dyn Runnable>,
    delay: Duration,
    mut gate: Option<oneshot::Receiver<Go>>,
) {
    let began = tokio::time::Instant::now();
    let not_started = |ctx: &Context| {
        ctx.end_run();
        exited(ctx, Outcome::NotStarted);
    };
    tokio::select! {
        biased;
        () = ctx.cancelled() => return not_started(&ctx),
        () = wait(began, delay) => {}
    }
    while let Some(answer) = gate.take() {
        // The processor counts this restart now; one too many, and the parent's death
        // cancels this node instead of an answer (or, for a limit that waits, it says how
        // long to wait before asking again).
        ctx.send(Msg::Due { ctx: ctx.clone() });
        let go = tokio::select! {
            biased;
            () = ctx.cancelled() => return not_started(&ctx),
            go = answer => go,
        };
        match go {
            Err(_) => return not_started(&ctx),
            Ok(Go::Now) => {}
            Ok(Go::After(more, next)) => {
                let held = tokio::time::Instant::now();
                tokio::select! {
                    biased;
                    () = ctx.cancelled() => return not_started(&ctx),
                    () = wait(held, more) => {}
                }
                gate = Some(next);
            }
        }
    }
    // Report the wait as it happened: the timer rounds up to its millisecond tick.
    ctx.send(Msg::Started {
        ctx: ctx.clone(),
        delay: began.elapsed(),
    });
    let result = match CatchUnwind::start(&*runnable, ctx.clone()) {
        Ok(fut) => fut.await,
        Err(message) => Ended::Panicked(message),
    };
    report(&ctx, result);
}

/// The processor's answer to a restart at its gate.
#[derive(Debug)]
pub(crate) enum Go {
    /// Counted: start.
    Now,
    /// Held by a restart limit that waits: wait this long, then ask again on the new gate.
    After(Duration, oneshot::Receiver<Go>),
}

/// Polls `fut` inside the node's span, and reports the outcome of a run when it has one.
///
/// A task that is aborted (its node's stop timeout, or the shutdown deadline) is dropped
/// before `fut` completes: then the drop reports the end, once `fut` is dropped, so that the
/// processor learns of it only when nothing of the run is left.
struct InSpan<F: Finish> {
    ctx: Context,
    /// Knows itself whether it has completed: no flag of its own, so that the common task
    /// stays within [`IMMEDIATE_TASK_SIZE`].
    fut: F,
}

/// A future whose output is a run's end, or a wrapper of one: it says whether it still runs,
/// gives itself up when aborted, and reports its output.
trait Finish: Future + Unpin {
    fn finish(ctx: &Context, output: Self::Output);
    /// Whether it has not completed yet.
    fn is_running(&self) -> bool;
    /// Drops what is left of it (user code, whose drop may panic: that is given up too).
    fn give_up(&mut self);
}

/// An immediate start: the run's future, with panics caught.
struct Report(CatchUnwind);

impl Finish for Report {
    fn finish(ctx: &Context, output: Self::Output) {
        report(ctx, output);
    }

    fn is_running(&self) -> bool {
        self.0.is_running()
    }

    fn give_up(&mut self) {
        let _ = self.0.drop_future();
    }
}

impl Future for Report {
    type Output = Ended;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// A start after a backoff: rare, so boxed to keep the common task small. `None` once
/// completed.
struct Delayed(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Finish for Delayed {
    fn finish(_ctx: &Context, (): ()) {}

    fn is_running(&self) -> bool {
        self.0.is_some()
    }

    fn give_up(&mut self) {
        if let Some(fut) = self.0.take() {
            let _ = crate::unwind::drop_guarded(fut);
        }
    }
}

impl Future for Delayed {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let Some(fut) = self.0.as_mut() else {
            return Poll::Ready(());
        };
        let poll = fut.as_mut().poll(cx);
        if poll.is_ready() {
            self.0 = None;
        }
        poll
    }
}

/// A start whose `run` panicked before it gave a future: its end, once polled.
struct StartPanicked(Option<String>);

impl Finish for StartPanicked {
    fn finish(ctx: &Context, output: Self::Output) {
        report(ctx, output);
    }

    fn is_running(&self) -> bool {
        self.0.is_some()
    }

    fn give_up(&mut self) {
        self.0 = None;
    }
}

impl Future for StartPanicked {
    type Output = Ended;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<Ended> {
        let message = self
            .0
            .take()
            .unwrap_or_else(|| "polled after it ended".to_owned());
        Poll::Ready(Ended::Panicked(message))
    }
}

impl<F: Finish> Future for InSpan<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = &mut *self;
        let _entered = this.ctx.span().enter();
        if !this.fut.is_running() {
            return Poll::Ready(()); // not polled again by tokio once complete
        }
        match Pin::new(&mut this.fut).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(output) => {
                F::finish(&this.ctx, output);
                Poll::Ready(())
            }
        }
    }
}

impl<F: Finish> Drop for InSpan<F> {
    fn drop(&mut self) {
        if !self.fut.is_running() {
            return;
        }
        // Aborted. The run's future is user code, whose drop may panic: it is given up.
        self.fut.give_up();
        self.ctx.end_run();
        exited(&self.ctx, Outcome::Aborted);
    }
}

fn report(ctx: &Context, ended: Ended) {
    let end = ctx.end_run();
    let outcome = match ended {
        Ended::Returned(error) => Outcome::Returned {
            error: error.map(String::into_boxed_str),
            done_signalled: end.done_signalled,
            misused: end.misused,
        },
        Ended::Bounced(reason) => Outcome::Bounced {
            reason: reason.into_boxed_str(),
        },
        Ended::Panicked(message) => Outcome::Panicked {
            message: message.into_boxed_str(),
        },
    };
    exited(ctx, outcome);
}

fn exited(ctx: &Context, outcome: Outcome) {
    // When a cancelled run really ended, so that shutdown can tell a run that returned late
    // (one that blocked its thread past the deadline) from one whose exit is merely queued.
    let at = if ctx.is_cancelled() {
        ctx.link().stamp(tokio::time::Instant::now())
    } else {
        Stamp::ZERO
    };
    ctx.send(Msg::Exited {
        ctx: ctx.clone(),
        outcome,
        at,
    });
}

/// The bytes of the future a node's task carries when it starts at once (its context, 8, and
/// the panic guard around the runnable's boxed future, 24), and at most for a start after a
/// backoff (whose future is boxed). tokio adds its own header and rounds the cell up
/// to its alignment; keeping this small keeps every node's cell in the smallest size class.
/// `docs/benchmarks.md` cites this figure; the build fails if it grows.
pub(crate) const IMMEDIATE_TASK_SIZE: usize = 24;

const _: () = assert!(std::mem::size_of::<InSpan<Report>>() <= IMMEDIATE_TASK_SIZE);
const _: () = assert!(std::mem::size_of::<InSpan<Delayed>>() <= IMMEDIATE_TASK_SIZE);
