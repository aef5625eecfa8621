//! Where user code runs inside arbor's own machinery, and how its panics are contained.
//!
//! A runnable's future is polled under a guard (see [`task`](crate::task)), but user code also
//! runs where nobody expects it: an error's `Display` when it is logged, its `Drop`, the drop of
//! a finished future or of a runnable whose node is removed. A panic there must not take the
//! processor or a task wrapper down with it: the processor would stop restarting anything, and
//! a task wrapper would never report its run's end. Every such call goes through [`catch`].

use std::any::Any;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};

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
