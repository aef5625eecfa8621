//! Node names and the distinguished names (DNs) built from them.
//!
//! [`Name::new`] is the only place that decides whether a name is valid, so the rule of the
//! design (`^[a-z0-9_]{1,64}$`, anchored) cannot drift between call sites.

use ecow::EcoString;
use serde::Serialize;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use triomphe::{Arc, UniqueArc};

/// A valid node name: 1 to [`MAX_LEN`](Name::MAX_LEN) bytes of lower-case ASCII letters,
/// digits and `_` (`^[a-z0-9_]{1,64}$`). Dots are what join names into a [`Dn`].
///
/// [`Group::add`](crate::Group::add) and [`Context::run`](crate::Context::run) take plain
/// strings and check them when the children start; a `Name` is for checking a name sooner,
/// such as one read from a configuration file before anything runs.
///
/// # Examples
///
/// ```
/// use arbor::Name;
///
/// let name = Name::new("api_v2").unwrap();
/// assert_eq!(name, "api_v2");
/// const LISTENER: Name = Name::from_static("listener");
/// assert_eq!(LISTENER.as_str(), "listener");
///
/// let err = Name::new("Bad-Name").unwrap_err();
/// assert_eq!(err.reason(), "a name may only hold lower-case ASCII letters, digits and '_'");
///
/// // A checked name goes wherever a name is taken.
/// # async fn serve(_: arbor::Context) -> anyhow::Result<()> { Ok(()) }
/// let group = arbor::Group::new().add(name, serve).add(LISTENER, serve);
/// assert_eq!(group.len(), 2);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Cow<'static, str>);

impl Name {
    /// The longest name a node may have, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Checks `name`. A `'static` string is kept without a copy.
    ///
    /// # Errors
    ///
    /// [`NameError`] saying which part of the rule the name breaks.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Result<Name, NameError> {
        let name = name.into();
        match check(&name) {
            Ok(()) => Ok(Name(name)),
            Err(reason) => Err(NameError {
                name: name.into_owned(),
                reason,
            }),
        }
    }

    /// A name known when the program is written, checked at compile time when used in a
    /// `const`.
    ///
    /// # Panics
    ///
    /// If `name` is not valid (at compile time, in a `const`).
    pub const fn from_static(name: &'static str) -> Name {
        match check(name) {
            Ok(()) => Name(Cow::Borrowed(name)),
            Err(reason) => panic!("{}", reason),
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, for the DN that keeps it.
    pub(crate) fn into_inner(self) -> Cow<'static, str> {
        self.0
    }
}

/// The rule, as a `const fn` so that [`Name::from_static`] can apply it at compile time.
const fn check(name: &str) -> Result<(), &'static str> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Err("a name must not be empty");
    }
    if bytes.len() > Name::MAX_LEN {
        return Err("a name must be at most 64 bytes long");
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'.' {
            return Err("a name must not contain '.', which joins names into a DN");
        }
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err("a name may only hold lower-case ASCII letters, digits and '_'");
        }
        i += 1;
    }
    Ok(())
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl std::str::FromStr for Name {
    type Err = NameError;

    fn from_str(name: &str) -> Result<Name, NameError> {
        Name::new(name.to_owned())
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;

    fn try_from(name: String) -> Result<Name, NameError> {
        Name::new(name)
    }
}

impl TryFrom<&'static str> for Name {
    type Error = NameError;

    fn try_from(name: &'static str) -> Result<Name, NameError> {
        Name::new(name)
    }
}

/// A checked name is a name for [`Group::add`](crate::Group::add) and
/// [`Context::run`](crate::Context::run).
impl From<Name> for Cow<'static, str> {
    fn from(name: Name) -> Cow<'static, str> {
        name.0
    }
}

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Why a string is not a valid [`Name`], from [`Name::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid node name {name:?}: {reason}")]
pub struct NameError {
    name: String,
    reason: &'static str,
}

impl NameError {
    /// The rejected name, as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Which part of the rule it breaks.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

/// A node's distinguished name: the dot-joined path from the root, such as `root.api.listener`.
///
/// Stored as the node's own name and a link to its parent's DN, so a tree's DNs take memory in
/// proportion to its node count, however deep it is (a chain of 100,000 levels would otherwise
/// hold five billion bytes of names). Cheap to clone (one reference count); compares, hashes,
/// orders and prints as the joined string, without building it: compare with `dn == "root.api"`,
/// and make the string with `to_string()` where one is needed. The root is always `root`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use arbor::{Context, Signal, Supervisor};
///
/// let sup = Supervisor::new(|ctx: Context| async move {
///     assert_eq!(ctx.dn(), "root");
///     assert!(ctx.dn().is_root());
///     ctx.signal(Signal::Healthy)?;
///     ctx.cancelled().await;
///     Ok(())
/// });
/// sup.shutdown().await.into_result().unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct Dn(Arc<Segment>);

/// One level of a DN. Every node holds one, so it is kept to 32 bytes: with the `Arc`'s one
/// count (a triomphe `Arc`, as no DN is ever weakly referenced) 40, which glibc serves from
/// its 48-byte chunks. The name is kept inline up to 15 bytes, where most names fit, and on the
/// heap beyond.
struct Segment {
    name: EcoString,
    parent: Option<Dn>,
    depth: u32,
}

/// The bytes of a DN's segment; the build fails if it grows.
const SEGMENT_SIZE: usize = 32;

const _: () = assert!(std::mem::size_of::<Segment>() <= SEGMENT_SIZE);

impl Drop for Segment {
    /// Unlinks the chain of parents iteratively: dropping the last DN of a deep chain must not
    /// recurse once per level.
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some(Dn(segment)) = next {
            next = match Arc::into_unique(segment).map(UniqueArc::into_inner) {
                Some(mut segment) => segment.parent.take(),
                None => None,
            };
        }
    }
}

/// How many segments a DN is printed from without allocating.
const INLINE_DEPTH: usize = 32;

impl Dn {
    /// The name of the root node.
    pub const ROOT: &'static str = "root";

    pub(crate) fn root() -> Self {
        Dn(Arc::new(Segment {
            name: EcoString::inline(Self::ROOT),
            parent: None,
            depth: 0,
        }))
    }

    /// The DN of a child called `name`: a name of up to 15 bytes is kept inline, a longer one
    /// is copied to the heap once (its clones share it).
    pub(crate) fn child(&self, name: Name) -> Dn {
        Dn(Arc::new(Segment {
            name: EcoString::from(name.into_inner()),
            parent: Some(self.clone()),
            depth: self.0.depth.saturating_add(1),
        }))
    }

    /// The last component: the node's own name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The parent's DN, or `None` for the root.
    pub fn parent(&self) -> Option<&Dn> {
        self.0.parent.as_ref()
    }

    /// How many edges separate this node from the root (the root has depth 0).
    pub fn depth(&self) -> usize {
        self.0.depth as usize
    }

    /// Whether this is the root's DN.
    pub fn is_root(&self) -> bool {
        self.0.parent.is_none()
    }

    /// This DN and its ancestors, from this node up to the root.
    fn up(&self) -> impl Iterator<Item = &Dn> {
        std::iter::successors(Some(self), |dn| dn.parent())
    }

    /// Calls `f` with each name from the root down, without allocating for usual depths.
    fn each_down(&self, mut f: impl FnMut(&str) -> fmt::Result) -> fmt::Result {
        let mut inline: [&str; INLINE_DEPTH] = [""; INLINE_DEPTH];
        if self.depth() < INLINE_DEPTH {
            let n = self.depth() + 1;
            for (slot, dn) in inline[..n].iter_mut().rev().zip(self.up()) {
                *slot = dn.name();
            }
            return inline[..n].iter().try_for_each(|name| f(name));
        }
        let names: Vec<&str> = self.up().map(Dn::name).collect();
        names.iter().rev().try_for_each(|name| f(name))
    }
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        self.each_down(|name| {
            if !std::mem::take(&mut first) {
                f.write_str(".")?;
            }
            f.write_str(name)
        })
    }
}

impl fmt::Debug for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl PartialEq for Dn {
    fn eq(&self, other: &Dn) -> bool {
        let (mut a, mut b) = (self, other);
        loop {
            if Arc::ptr_eq(&a.0, &b.0) {
                return true;
            }
            if a.0.depth != b.0.depth || a.0.name != b.0.name {
                return false;
            }
            match (a.parent(), b.parent()) {
                (Some(pa), Some(pb)) => (a, b) = (pa, pb),
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

impl Eq for Dn {}

impl PartialEq<str> for Dn {
    fn eq(&self, other: &str) -> bool {
        let mut rest = other;
        for dn in self.up() {
            let Some(before) = rest.strip_suffix(dn.name()) else {
                return false;
            };
            rest = match dn.parent() {
                Some(_) => match before.strip_suffix('.') {
                    Some(before) => before,
                    None => return false,
                },
                None => before,
            };
        }
        rest.is_empty()
    }
}

impl PartialEq<&str> for Dn {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl PartialEq<Dn> for str {
    fn eq(&self, other: &Dn) -> bool {
        *other == *self
    }
}

impl PartialEq<Dn> for &str {
    fn eq(&self, other: &Dn) -> bool {
        *other == **self
    }
}

impl Hash for Dn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Consistent with `Eq`: equal DNs have the same names in the same order.
        for dn in self.up() {
            state.write(dn.name().as_bytes());
            state.write_u8(b'.');
        }
    }
}

impl Ord for Dn {
    /// The order of the joined strings: names from the root down, a prefix first ('.' sorts
    /// before every character a name may hold).
    fn cmp(&self, other: &Dn) -> Ordering {
        if self == other {
            return Ordering::Equal;
        }
        fn down(dn: &Dn) -> Vec<&str> {
            let mut names: Vec<&str> = dn.up().map(Dn::name).collect();
            names.reverse();
            names
        }
        down(self).cmp(&down(other))
    }
}

impl PartialOrd for Dn {
    fn partial_cmp(&self, other: &Dn) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for Dn {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::new(s.to_owned()).unwrap()
    }

    #[test]
    fn accepts_the_documented_alphabet_up_to_64_bytes() {
        for ok in ["a", "z9", "_", "api_v2", "0", &"x".repeat(64)] {
            assert_eq!(
                Name::new(ok.to_owned()).map(|n| n.to_string()),
                Ok(ok.to_owned())
            );
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
            let err = Name::new(bad.to_owned()).unwrap_err();
            assert_eq!(err.name(), bad);
            assert!(err.to_string().contains(err.reason()));
        }
    }

    #[test]
    fn long_dns_are_joined_too() {
        let mut dn = Dn::root();
        for _ in 0..10 {
            dn = dn.child(name(&"n".repeat(64)));
        }
        assert_eq!(dn.depth(), 10);
        assert_eq!(dn.to_string().len(), 4 + 10 * 65);
        assert_eq!(dn.name(), "n".repeat(64));
    }

    #[test]
    fn names_inline_and_on_the_heap_read_back_the_same() {
        // 15 bytes fit a segment inline; 16 and up go to the heap.
        for len in [1, 14, 15, 16, 17, 64] {
            let long = "a".repeat(len);
            let owned = Dn::root().child(name(&long));
            let leaked: &'static str = Box::leak(long.clone().into_boxed_str());
            let borrowed = Dn::root().child(Name::from_static(leaked));
            assert_eq!(owned.name(), long);
            assert_eq!(owned, borrowed);
            assert_eq!(owned.clone().to_string(), format!("root.{long}"));
            assert_ne!(owned, Dn::root().child(name(&"b".repeat(len))));
        }
    }

    #[test]
    fn dn_parts() {
        let dn = Dn::root().child(name("api")).child(name("listener"));
        assert_eq!(dn.to_string(), "root.api.listener");
        assert_eq!(dn, "root.api.listener");
        assert_ne!(dn, "root.api");
        assert_ne!(dn, "root.api.listener.x");
        assert_ne!(dn, "xroot.api.listener");
        assert_ne!(dn, "root.apilistener");
        assert_eq!(dn.name(), "listener");
        assert_eq!(dn.parent().unwrap(), "root.api");
        assert_eq!(dn.depth(), 2);
        assert!(!dn.is_root());
        assert!(Dn::root().is_root());
        assert_eq!(Dn::root().name(), "root");
        assert_eq!(format!("{dn:?}"), "\"root.api.listener\"");
    }

    #[test]
    fn equality_hash_and_order_follow_the_joined_string() {
        use std::collections::hash_map::DefaultHasher;
        let hash = |dn: &Dn| {
            let mut h = DefaultHasher::new();
            dn.hash(&mut h);
            h.finish()
        };
        let a = Dn::root().child(Name::from_static("api")).child(name("x"));
        let b = Dn::root().child(name("api")).child(name("x"));
        assert_eq!(a, b);
        assert_eq!(hash(&a), hash(&b));
        let mut dns = [
            Dn::root().child(name("ab")),
            Dn::root().child(name("a")).child(name("b")),
            Dn::root().child(name("a")),
            Dn::root(),
            Dn::root().child(name("a_b")),
            Dn::root().child(name("a0")),
        ];
        dns.sort();
        let strings: Vec<String> = dns.iter().map(Dn::to_string).collect();
        let mut sorted = strings.clone();
        sorted.sort();
        assert_eq!(strings, sorted);
    }

    #[test]
    fn a_deep_chain_is_linear_and_drops_without_recursing() {
        let mut dn = Dn::root();
        for _ in 0..200_000 {
            dn = dn.child(Name::from_static("n"));
        }
        assert_eq!(dn.depth(), 200_000);
        assert_eq!(dn.to_string().len(), 4 + 2 * 200_000);
        drop(dn);
    }
}
