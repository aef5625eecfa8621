//! `arbor run`: check the file, bind the control socket, start the tree, show it, and stop it
//! in order when asked.
//!
//! Nothing starts unless the file passes the check and the socket is bound. A first Ctrl-C
//! (SIGINT), SIGTERM, `arbor shutdown` or `q` in the live view stops the tree in order:
//! each group stops its members dependents first, each program gets its stop signal and its
//! grace period. A second Ctrl-C or SIGTERM kills every program's process group at once.
//! SIGHUP reloads the file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use crate::app::{App, Ending};
use crate::control;
use crate::logs::LogHub;
use crate::tree::{Level, Shared};

/// What `arbor run` was asked.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) file: PathBuf,
    pub(crate) plain: bool,
    pub(crate) socket: Option<PathBuf>,
    pub(crate) metrics: Option<SocketAddr>,
    pub(crate) log_lines: usize,
}

/// Exit code when the tree did not stop cleanly (a node had to be aborted).
const UNCLEAN: u8 = 1;
/// Exit code after a second Ctrl-C: everything was killed.
const KILLED: u8 = 130;

pub(crate) fn run(options: Options) -> ExitCode {
    let shown = options.file.display().to_string();
    let plan = match crate::load(&shown) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("arbor: cannot start the runtime: {err}");
            return ExitCode::from(UNCLEAN);
        }
    };
    runtime.block_on(supervise(options, plan))
}

async fn supervise(options: Options, plan: crate::plan::Plan) -> ExitCode {
    let socket = options
        .socket
        .clone()
        .unwrap_or_else(|| control::socket::default_path(&options.file));
    let listener = match control::socket::bind(&socket).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("arbor: {err}; nothing was started");
            return ExitCode::from(UNCLEAN);
        }
    };
    let metrics = match options.metrics {
        Some(addr) => match crate::metrics::bind(addr).await {
            Ok(server) => Some(server),
            Err(err) => {
                eprintln!("arbor: {err}; nothing was started");
                let _ = std::fs::remove_file(&socket);
                return ExitCode::from(UNCLEAN);
            }
        },
        None => None,
    };
    let shared = Shared::new(LogHub::new(options.log_lines));
    let root = Level::new(
        "root".to_owned(),
        Arc::new(plan.root.clone()),
        shared.clone(),
    );
    let sup = match arbor::Supervisor::builder()
        .shutdown_timeout(plan.root.stop_bound() + Duration::from_secs(5))
        .spawn(root)
    {
        Ok(sup) => sup,
        Err(err) => {
            eprintln!("arbor: cannot start the tree: {err}");
            let _ = std::fs::remove_file(&socket);
            return ExitCode::from(UNCLEAN);
        }
    };
    let app = App::new(sup, shared, options.file.clone(), plan);
    tokio::spawn(control::server::serve(listener, app.clone()));
    if let Some(server) = metrics {
        tokio::spawn(server.serve(app.clone()));
    }
    if let Err(err) = watch_signals(app.clone()) {
        eprintln!("arbor: cannot handle signals: {err}");
    }
    let view = if options.plain || !crate::tui::available() {
        tokio::spawn(crate::plain::run(app.clone()))
    } else {
        tokio::spawn(crate::tui::run(app.clone()))
    };

    let code = tokio::select! {
        () = app.ending(Ending::InOrder) => stop(&app).await,
        report = app.sup.wait() => {
            eprintln!("arbor: the tree ended by itself");
            if report.into_result().is_ok() { ExitCode::SUCCESS } else { ExitCode::from(UNCLEAN) }
        }
    };
    // The view ends with the supervisor's events; after a kill it is not waited for long.
    let _ = tokio::time::timeout(Duration::from_secs(2), view).await;
    let _ = std::fs::remove_file(&socket);
    code
}

/// Stops the tree in order; a second request meanwhile kills everything at once.
async fn stop(app: &Arc<App>) -> ExitCode {
    tokio::select! {
        report = app.sup.shutdown() => match report.into_result() {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("arbor: not every program stopped cleanly: {err}");
                ExitCode::from(UNCLEAN)
            }
        },
        () = app.ending(Ending::AtOnce) => {
            kill_all(app).await;
            ExitCode::from(KILLED)
        }
    }
}

/// SIGKILLs every program's process group (each program leads its own).
async fn kill_all(app: &App) {
    for node in app.nodes().await {
        if let Some(pid) = node.pid.and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// SIGINT and SIGTERM ask the run to stop (twice: at once), SIGHUP reloads the file.
fn watch_signals(app: Arc<App>) -> std::io::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = interrupt.recv() => app.request_stop(),
                _ = terminate.recv() => app.request_stop(),
                _ = hangup.recv() => match app.reload() {
                    Ok(changes) => {
                        for (dn, how) in changes {
                            eprintln!("arbor: reload: {how} {}", crate::plain::short(&dn));
                        }
                    }
                    Err(err) => eprintln!("{err}"),
                },
            }
        }
    });
    Ok(())
}
