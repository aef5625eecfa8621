//! Node names and the distinguished names (DNs) built from them.
//!
//! [`check_name`] is the only place that decides whether a name is valid, so the rule of the
//! design (`^[a-z0-9_]{1,64}$`, anchored) cannot drift between call sites.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// The longest name a node may have, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a node name against `^[a-z0-9_]{1,64}$`; on failure says why, for the error message.
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a name must not be empty");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("a name must be at most 64 bytes long");
    }
    if name.contains('.') {
        return Err("a name must not contain '.', which joins names into a DN");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err("a name may only hold lower-case ASCII letters, digits and '_'");
    }
    Ok(())
}

/// A node's distinguished name: the dot-joined path from the root, such as `root.api.listener`.
///
/// Cheap to clone (one reference count). The root is always `root`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use arbor::{Context, Signal, Supervisor};
///
/// let sup = Supervisor::new(|ctx: Context| async move {
///     assert_eq!(ctx.dn().as_str(), "root");
///     assert!(ctx.dn().is_root());
///     ctx.signal(Signal::Healthy)?;
///     ctx.cancelled().await;
///     Ok(())
/// });
/// sup.shutdown().await.into_result().unwrap();
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Dn(Arc<str>);

impl Dn {
    /// The name of the root node.
    pub const ROOT: &'static str = "root";

    pub(crate) fn root() -> Self {
        Dn(Arc::from(Self::ROOT))
    }

    /// The DN of a child called `name`; the caller has checked the name.
    pub(crate) fn child(&self, name: &str) -> Dn {
        let (parent, len) = (self.0.as_bytes(), self.0.len() + 1 + name.len());
        // Built on the stack when it fits, so a start costs one allocation for its DN, not a
        // `String` and then a copy of it into the `Arc`.
        let mut buf = [0u8; 256];
        if len <= buf.len() {
            buf[..parent.len()].copy_from_slice(parent);
            buf[parent.len()] = b'.';
            buf[parent.len() + 1..len].copy_from_slice(name.as_bytes());
            let dn = std::str::from_utf8(&buf[..len])
                .expect("joining two UTF-8 strings with '.' gives UTF-8");
            return Dn(Arc::from(dn));
        }
        Dn(Arc::from(format!("{}.{name}", self.0)))
    }

    /// The whole DN as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last component: the node's own name.
    pub fn name(&self) -> &str {
        self.0.rsplit('.').next().unwrap_or(&self.0)
    }

    /// The parent's DN as a string slice, or `None` for the root.
    pub fn parent(&self) -> Option<&str> {
        self.0.rfind('.').map(|i| &self.0[..i])
    }

    /// How many edges separate this node from the root (the root has depth 0).
    pub fn depth(&self) -> usize {
        self.0.bytes().filter(|&b| b == b'.').count()
    }

    /// Whether this is the root's DN.
    pub fn is_root(&self) -> bool {
        self.parent().is_none()
    }
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl AsRef<str> for Dn {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Dn {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Dn {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet_up_to_64_bytes() {
        for ok in ["a", "z9", "_", "api_v2", "0", &"x".repeat(64)] {
            assert_eq!(check_name(ok), Ok(()), "{ok:?} should be valid");
        }
    }

    #[test]
    fn rejects_everything_else() {
        let long = "x".repeat(65);
        for bad in [
            "",
            &long,
            "a.b",
            "Api",
            "API",
            "bad-name",
            "has space",
            "bad-name!",
            "é",
            "a\n",
            "\u{0}",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn long_dns_are_joined_too() {
        let mut dn = Dn::root();
        for _ in 0..10 {
            dn = dn.child(&"n".repeat(64));
        }
        assert_eq!(dn.depth(), 10);
        assert_eq!(dn.as_str().len(), 4 + 10 * 65);
        assert_eq!(dn.name(), "n".repeat(64));
    }

    #[test]
    fn dn_parts() {
        let dn = Dn::root().child("api").child("listener");
        assert_eq!(dn.as_str(), "root.api.listener");
        assert_eq!(dn.name(), "listener");
        assert_eq!(dn.parent(), Some("root.api"));
        assert_eq!(dn.depth(), 2);
        assert!(!dn.is_root());
        assert!(Dn::root().is_root());
        assert_eq!(Dn::root().name(), "root");
        assert_eq!(format!("{dn:?}"), "\"root.api.listener\"");
    }
}
