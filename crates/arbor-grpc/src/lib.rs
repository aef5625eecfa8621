//! Supervised gRPC servers for [arbor](arbor).
//!
//! TODO: story.

mod connection;
mod grpc;
mod incoming;
mod listen;
mod serve;
mod stop;
mod supervised;

pub use connection::Connection;
pub use grpc::GrpcServer;
pub use incoming::Incoming;
pub use listen::Listen;
pub use serve::{HealthFuture, HealthState, Serve, ServeFuture, Shutdown};
pub use stop::StopMode;
pub use supervised::Supervised;
