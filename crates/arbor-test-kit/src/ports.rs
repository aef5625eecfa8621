//! Loopback ports for tests, without the bind-then-reuse race.
//!
//! The race: bind port 0, note the port the kernel chose, close the socket, hand the number to
//! the code under test. Between the close and the code's own bind, the kernel may hand the
//! same port to anyone else (another test's bind to port 0, or the source port of any outgoing
//! connection), and the test fails with "address in use", or talks to a stranger.
//!
//! In order of preference:
//!
//! 1. [`loopback`]: let the code under test bind port 0 itself and report the port it got.
//! 2. [`listener`]: bind here, hand the bound listener over; the port never leaves the test.
//! 3. [`free_port`]: only where a number must be known before the code under test binds it
//!    (a command line, a cluster's peer list), a port *reserved* until that code binds it.

use std::net::{SocketAddr, TcpListener};

use tokio::net::TcpSocket;

/// `127.0.0.1:0`: an address for the code under test to bind, so that the kernel picks a free
/// port and the code reports which. No race: the port is never free between two binds.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A listener on a free loopback port, bound (and listening) now, to hand to the code under
/// test or to occupy a port. No race: the port is never released.
///
/// # Panics
///
/// If the kernel has no loopback port to give.
pub fn listener() -> TcpListener {
    TcpListener::bind(loopback()).expect("bind a loopback port")
}

/// A loopback port reserved for a program that binds it later, with `SO_REUSEADDR`.
///
/// The reservation is a socket bound to `127.0.0.1:port` with `SO_REUSEADDR`, never listening,
/// held until this value is dropped. While it lives, on Linux:
///
/// - the kernel hands the port to no one else: not to a bind to port 0, with or without
///   `SO_REUSEADDR`, nor as the source port of an outgoing connection;
/// - a bind to it *without* `SO_REUSEADDR` fails with "address in use";
/// - a program that binds it *with* `SO_REUSEADDR` (Go programs such as etcd do, so do
///   tokio's and std's listeners, and Python's when the script asks) binds and listens as if
///   the port were free, and receives every connection: this socket never accepts any;
/// - until then, a connection to the port is refused. So a reservation also serves as "a port
///   where nobody listens", for as long as it is held.
///
/// Keep it until the program under test is done with the port, not only until it has bound
/// it: a program that is restarted on the same port (a killed etcd member) finds it reserved
/// again, not taken in the meantime.
///
/// # Residual risk
///
/// The port is chosen by the kernel when this is made, so it may be a port that another
/// process saw free a moment earlier with the racy recipe (bind port 0, close, reuse the
/// number), or any fixed port in the ephemeral range that someone binds on purpose. If such a
/// process binds and listens on it before the program under test does, that program fails to
/// bind ("address in use"), or, if neither it nor the other side uses `SO_REUSEADDR`, the
/// other process cannot bind. Nothing in this workspace uses the racy recipe any more; callers
/// that start long-lived servers (the etcd tests) retry with fresh ports when a bind fails.
/// A program that binds without `SO_REUSEADDR` cannot use a reservation at all: hand it a
/// [`listener`] or let it bind [`loopback`] instead.
#[must_use = "the port is reserved only while the reservation lives"]
#[derive(Debug)]
pub struct PortReservation {
    // Held, never read: the reservation lasts as long as this socket is bound.
    _socket: TcpSocket,
    addr: SocketAddr,
}

impl PortReservation {
    /// The reserved port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A loopback port, reserved until the returned value is dropped; see [`PortReservation`] for
/// what a reservation guarantees and what it cannot. Prefer [`loopback`] or [`listener`].
///
/// # Panics
///
/// If the kernel has no loopback port to give.
pub fn free_port() -> PortReservation {
    let reserve = || -> std::io::Result<PortReservation> {
        let socket = TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(loopback())?;
        let addr = socket.local_addr()?;
        Ok(PortReservation {
            _socket: socket,
            addr,
        })
    };
    reserve().expect("reserve a loopback port")
}

#[cfg(test)]
mod tests {
    use std::io::ErrorKind;
    use std::net::TcpStream;

    use super::*;

    #[test]
    fn a_reserved_port_refuses_connections_and_strangers() {
        let reserved = free_port();
        let refused = TcpStream::connect(reserved.addr()).expect_err("nobody listens");
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
        let stranger = TcpSocket::new_v4().expect("a socket");
        let in_use = stranger.bind(reserved.addr()).expect_err("no SO_REUSEADDR");
        assert_eq!(in_use.kind(), ErrorKind::AddrInUse);
        for _ in 0..1000 {
            assert_ne!(
                listener().local_addr().expect("bound").port(),
                reserved.port()
            );
        }
    }

    #[test]
    fn a_program_with_reuseaddr_binds_a_reserved_port_and_gets_its_connections() {
        let reserved = free_port();
        // std's listener sets SO_REUSEADDR on Unix, as the programs under test do.
        let server = TcpListener::bind(reserved.addr()).expect("the reservation lets it bind");
        let _client = TcpStream::connect(reserved.addr()).expect("it listens");
        server.accept().expect("and it gets the connection");
        // A second listener on the port is refused: the reservation stands aside only once.
        assert!(TcpListener::bind(reserved.addr()).is_err());
    }
}
