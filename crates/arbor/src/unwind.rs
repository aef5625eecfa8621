//! Where user code runs inside arbor's own machinery, and how its panics are contained.
//!
//! A runnable's future is polled under a guard (see [`task`](crate::task)), but user code also
//! runs where nobody expects it: an error's `Display` when it is logged, its `Drop`, the drop of
//! a finished future or of a runnable whose node is removed. A panic there must not take the
//! processor or a task wrapper down with it: the processor would stop restarting anything, and
//! a task wrapper would never report its run's end. Every such call goes through [`catch`].

use std::any::Any;
use std::fmt::Write as _;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::{Context, RunFuture, Runnable};

/// Runs `f`, turning a panic into its message.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    // Unwind safety: on a panic the value being worked on is given up, never used again.
    catch_unwind(AssertUnwindSafe(f)).map_err(panic_message)
}

/// Drops a user value; `Err` with the panic message if its `Drop` panicked.
pub(crate) fn drop_guarded<T>(value: T) -> Result<(), String> {
    catch(move || drop(value))
}

/// An error's chain as one line (`{:#}`), even if its `Display` fails or panics.
pub(crate) fn describe(err: &anyhow::Error) -> String {
    let mut text = String::new();
    match catch(|| write!(text, "{err:#}")) {
        Ok(Ok(())) => text,
        Ok(Err(std::fmt::Error)) => "an error whose Display failed".to_owned(),
        Err(message) => format!("an error whose Display panicked: {message}"),
    }
}

/// The message of a panic, when it carries one.
pub(crate) fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    };
    // The payload is user data too: a panicking Drop of it would escape here.
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        // Forget it rather than drop it again: a second panic while unwinding aborts.
        std::mem::forget(payload);
    }
    message
}

/// How a run ended, in terms that need no more user code: the error is already described, and
/// the future, with everything it owned, already dropped.
pub(crate) enum Ended {
    /// The runnable returned: `None` for `Ok(())`, else its error chain.
    Returned(Option<String>),
    /// The runnable returned a [`Bounce`](crate::Bounce), with this reason.
    Bounced(String),
    Panicked(String),
}

/// Runs a runnable's future, turning a panic (in `run` itself, in any poll, in the drop of the
/// future or of its error, in the error's `Display`) into [`Ended::Panicked`].
///
/// The future is dropped as soon as it completes, before the end is reported: whatever it owns
/// (sockets, files, child processes) is gone by the time the node may start again, so two runs
/// of a node never overlap, not even in a destructor.
pub(crate) struct CatchUnwind(Option<RunFuture>);

impl CatchUnwind {
    /// The runnable's future for this run, or the panic message if `run` itself panicked.
    pub(crate) fn start(runnable: &dyn Runnable, ctx: Context) -> Result<Self, String> {
        catch(|| runnable.run(ctx)).map(|fut| CatchUnwind(Some(fut)))
    }

    /// Whether the future has not completed yet.
    pub(crate) fn is_running(&self) -> bool {
        self.0.is_some()
    }

    /// Drops the future (finished, panicked or given up), and says if its drop panicked.
    pub(crate) fn drop_future(&mut self) -> Result<(), String> {
        match self.0.take() {
            Some(fut) => drop_guarded(fut),
            None => Ok(()),
        }
    }
}

impl Future for CatchUnwind {
    type Output = Ended;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Ended> {
        let this = self.get_mut();
        let Some(fut) = this.0.as_mut() else {
            return Poll::Ready(Ended::Panicked("polled after it ended".to_owned()));
        };
        match catch(|| fut.as_mut().poll(cx)) {
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
        }
    }
}

/// What a returned run means, once its future has been dropped (`dropped`).
fn ended(result: anyhow::Result<()>, dropped: Result<(), String>) -> Ended {
    let end = match result {
        Ok(()) => Ended::Returned(None),
        Err(err) => {
            let bounce = bounce_in(&err);
            let described = describe(&err);
            if let Err(message) = drop_guarded(err) {
                return Ended::Panicked(format!(
                    "{message} (while dropping its error: {described})"
                ));
            }
            match bounce {
                Some(reason) => Ended::Bounced(reason),
                None => Ended::Returned(Some(described)),
            }
        }
    };
    match dropped {
        Ok(()) => end,
        Err(message) => Ended::Panicked(format!("{message} (while dropping its future)")),
    }
}

/// The reason of a [`Bounce`](crate::Bounce) anywhere in `err`'s chain. Walking the chain
/// calls the user's `source()`, guarded like any user code; a chain that panics is no bounce.
fn bounce_in(err: &anyhow::Error) -> Option<String> {
    catch(|| {
        err.chain()
            .find_map(|e| e.downcast_ref::<crate::Bounce>())
            .map(|b| b.reason().to_owned())
    })
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    struct Loud;
    impl fmt::Display for Loud {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            panic!("display exploded")
        }
    }
    impl fmt::Debug for Loud {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Loud")
        }
    }
    impl std::error::Error for Loud {}

    struct Mute;
    impl fmt::Display for Mute {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            Err(fmt::Error)
        }
    }
    impl fmt::Debug for Mute {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Mute")
        }
    }
    impl std::error::Error for Mute {}

    #[test]
    fn a_failing_display_is_described_not_propagated() {
        assert_eq!(
            describe(&anyhow::Error::new(Loud)),
            "an error whose Display panicked: display exploded"
        );
        assert_eq!(
            describe(&anyhow::Error::new(Mute)),
            "an error whose Display failed"
        );
        let chained = anyhow::anyhow!("inner").context("outer");
        assert_eq!(describe(&chained), "outer: inner");
    }

    #[test]
    fn a_bounce_is_found_under_context() {
        let bounce = || anyhow::Error::new(crate::Bounce::new("moved"));
        assert_eq!(bounce_in(&bounce()), Some("moved".to_owned()));
        assert_eq!(
            bounce_in(&bounce().context("outer")),
            Some("moved".to_owned())
        );
        assert_eq!(bounce_in(&anyhow::anyhow!("plain")), None);
        assert!(matches!(ended(Err(bounce()), Ok(())), Ended::Bounced(r) if r == "moved"));
    }

    #[test]
    fn a_panicking_drop_is_reported() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("drop exploded")
            }
        }
        assert_eq!(drop_guarded(Bomb), Err("drop exploded".to_owned()));
        assert_eq!(drop_guarded(5), Ok(()));
    }
}
