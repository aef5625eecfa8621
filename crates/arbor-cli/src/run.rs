//! `arbor run`: check the file, bind the control socket, start the tree, show it, and stop it
//! in order when asked.
//!
//! Nothing starts unless the file passes the check and the socket is bound. A first Ctrl-C
//! (SIGINT), SIGTERM, `arbor shutdown` or `q` in the live view stops the tree in order:
//! each group stops its members dependents first, each program gets its stop signal and its
//! grace period. A second Ctrl-C or SIGTERM kills every program's process group at once.
//! SIGHUP reloads the file (under the live view: the terminal hung up, and the run stops).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use arbor::NodeState;
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
    // Before anything starts, so that the plain view misses no line.
    let lines = shared.logs.follow();
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
    // A watch starts from the node's state when it is made: a death of the root is never
    // missed, however soon it comes.
    let mut root = sup.watch("root");
    let app = App::new(sup, shared, options.file.clone(), plan);
    tokio::spawn(control::server::serve(listener, app.clone()));
    if let Some(server) = metrics {
        tokio::spawn(server.serve(app.clone()));
    }
    let live = !options.plain && crate::tui::available();
    if let Err(err) = watch_signals(app.clone(), live) {
        eprintln!("arbor: cannot handle signals: {err}");
    }
    let view = if !live {
        tokio::spawn(crate::plain::run(app.clone(), lines))
    } else {
        drop(lines); // the live view fills in what it missed from the buffer
        tokio::spawn(crate::tui::run(app.clone()))
    };

    let (code, message) = tokio::select! {
        () = app.ending(Ending::InOrder) => stop(&app).await,
        // The root fails only when its own intensity (or a program's at the top level) is
        // exceeded: OTP's top supervisor giving up. The run ends, as the node would.
        Ok(dead) = root.until_state(NodeState::Dead) => {
            let error = dead.error.as_deref().unwrap_or("no error").to_owned();
            app.request_shutdown();
            let (_, message) = stop(&app).await;
            let message = message.map_or_else(String::new, |m| format!("\n{m}"));
            (ExitCode::from(UNCLEAN), Some(format!("arbor: the tree failed, so everything was stopped: {error}{message}")))
        }
        report = app.sup.wait() => match report.into_result() {
            Ok(()) => (ExitCode::SUCCESS, Some("arbor: the tree ended by itself".to_owned())),
            Err(err) => (ExitCode::from(UNCLEAN), Some(format!("arbor: the tree ended by itself: {err}"))),
        },
    };
    // The view ends with the supervisor's events; after a kill it is not waited for long.
    // Messages come after it, so that the live view's screen does not swallow them.
    let _ = tokio::time::timeout(Duration::from_secs(2), view).await;
    let _ = std::fs::remove_file(&socket);
    if let Some(message) = message {
        eprintln!("{message}");
    }
    code
}

/// Stops the tree in order; a second request meanwhile kills everything at once. Returns the
/// exit code, and a message for the user if it did not go well.
async fn stop(app: &Arc<App>) -> (ExitCode, Option<String>) {
    tokio::select! {
        report = app.sup.shutdown() => match report.into_result() {
            Ok(()) => (ExitCode::SUCCESS, None),
            Err(err) => (
                ExitCode::from(UNCLEAN),
                Some(format!("arbor: not every program stopped cleanly: {err}")),
            ),
        },
        () = app.ending(Ending::AtOnce) => {
            kill_all(app).await;
            (ExitCode::from(KILLED), Some("arbor: stopped at once: every program was killed".to_owned()))
        }
    }
}

/// SIGKILLs every program's process group (each program leads its own).
async fn kill_all(app: &App) {
    for node in app.nodes().await {
        // Only a run under way has a process; an ended one's pid may belong to another now.
        let running = matches!(node.state.as_str(), "New" | "Healthy");
        if let Some(pid) = node
            .pid
            .filter(|_| running)
            .and_then(|p| i32::try_from(p).ok())
        {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// SIGINT and SIGTERM ask the run to stop (twice: at once). SIGHUP reloads the file, except
/// under the live view (`live`), where it is what it was first: the terminal hanging up. Then
/// nobody sees or steers the run any more, and it stops in order, as a closed terminal's jobs
/// do (`arbor reload` still reloads).
fn watch_signals(app: Arc<App>, live: bool) -> std::io::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = interrupt.recv() => app.request_stop(),
                _ = terminate.recv() => app.request_stop(),
                _ = hangup.recv() => {
                    if live {
                        app.request_shutdown();
                    } else {
                        reload(&app);
                    }
                }
            }
        }
    });
    Ok(())
}

/// Reloads the file on SIGHUP, and says what changed among the output.
fn reload(app: &App) {
    match app.reload() {
        Ok(changes) if changes.is_empty() => app.say("reload (SIGHUP): nothing changed"),
        Ok(changes) => {
            for (dn, how) in changes {
                app.say(&format!(
                    "reload (SIGHUP): {how} {}",
                    crate::plain::short(&dn)
                ));
            }
        }
        Err(err) => {
            for line in err.lines() {
                app.say(line);
            }
        }
    }
}
