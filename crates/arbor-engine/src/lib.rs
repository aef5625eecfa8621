//! A dependency engine on arbor's tree (the Juju seed): components declare the components
//! whose outputs they need, start once those are available, get the values they publish, and
//! are bounced whenever a provider starts, stops or publishes again.
//!
//! An [`Engine`] is an ordinary [`arbor::Runnable`], so it can be any node of a tree (the
//! root, a child, a component of another engine), and each component is an ordinary child
//! node of it: status, events, backoff, restart policies and orders all apply.
//!
//! # Starting and bouncing
//!
//! A component waits, New and quiet (no error, no backoff; its status note `waiting_for`
//! names the input), until every input's provider runs and has [published](Io::publish). An
//! input that names no installed component waits too: it may be installed later. When a
//! provider's output changes (it published again, or its run ended and withdrew it), every
//! running dependent is bounced ([`arbor::Bounce`]: not a failure): told to stop, and once
//! stopped started again with the new values, and its own dependents in turn. A run never
//! sees a mix of old and new inputs, and never runs twice at once.
//!
//! # Outcomes
//!
//! How a component's run ends:
//!
//! | it returns | then |
//! |---|---|
//! | `Err(Bounce)` | restarted at once |
//! | `Err(Missing)` ([`Missing`]) | stopped, quietly, until an input changes |
//! | `Err(Uninstall)` ([`Uninstall`]) | removed from the engine for good |
//! | `Ok(())` | final until an input changes |
//! | any other error | restarted after its backoff, as any death |
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> anyhow::Result<()> {
//! use arbor::{Context, NodeState, Signal, Supervisor};
//! use arbor_engine::{Component, Engine, Io};
//!
//! let engine = Engine::new();
//! engine.install(Component::new("db", |ctx: Context, io: Io| async move {
//!     io.publish("postgres://pool".to_owned()); // what dependents get
//!     ctx.signal(Signal::Healthy)?;
//!     ctx.cancelled().await;
//!     Ok(())
//! }))?;
//! engine.install(
//!     Component::new("api", |ctx: Context, io: Io| async move {
//!         let pool = io.input::<String>("db")?;
//!         ctx.annotate("pool", &pool);
//!         ctx.signal(Signal::Healthy)?;
//!         ctx.cancelled().await;
//!         Ok(())
//!     })
//!     .input("db"),
//! )?;
//! let sup = Supervisor::new(engine.clone());
//! sup.watch("root.api").until_state(NodeState::Healthy).await?;
//! assert_eq!(engine.report().get("api").unwrap().starts, 1);
//! sup.shutdown().await.into_result()?;
//! # Ok(())
//! # }
//! ```

mod component;
mod engine;
mod error;
mod graph;
mod io;
mod member;
mod outcome;
mod report;

pub use component::{Component, Worker};
pub use engine::Engine;
pub use error::{InputError, InstallError};
pub use io::Io;
pub use outcome::{Missing, Uninstall};
pub use report::{ComponentReport, EngineReport};
