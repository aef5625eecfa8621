//! `arbor`: supervise a tree of programs from a TOML file, watch it live, steer it from a
//! second terminal. See `docs/cli.md` for the file format and every command.
//!
//! Exit codes, for scripts:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success: the file is valid, the request was done, or `run` stopped every program cleanly |
//! | 1 | refused: an invalid file (every error printed, nothing started), a wrong name, a socket in use, or a run that did not stop cleanly |
//! | 2 | a bad command line |
//! | 3 | no `arbor run` answers on the control socket |
//! | 130 | `run` was stopped at once by a second Ctrl-C |
//!
//! The crate's modules, from the file to the running tree:
//!
//! - [`config`] reads the file, [`check`] validates it into a [`plan`];
//! - [`tree`] maps a plan onto the core, `arbor-process` and `arbor-lifecycle`;
//! - [`run`] runs it, with [`app`] as the state the rest shares; [`plain`] and [`tui`] show it,
//!   [`logs`] keeps the programs' output;
//! - [`control`] is the socket `arbor status` and the others talk to, [`names`] resolves
//!   their names, [`metrics`] serves `--metrics`.

mod app;
mod check;
mod config;
mod control;
mod diagnostic;
mod diagnostics;
mod logs;
mod metrics;
mod names;
mod plain;
mod plan;
mod run;
mod tree;
mod tui;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::control::Request;

/// Supervise a tree of programs from a TOML file.
#[derive(Debug, Parser)]
#[command(name = "arbor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Supervise the programs the file declares, until Ctrl-C or SIGTERM.
    Run {
        /// The file.
        #[arg(default_value = "arbor.toml")]
        file: PathBuf,
        /// One line per state change and prefixed output, even on a terminal.
        #[arg(long)]
        plain: bool,
        /// The control socket (default: `.FILE.sock` beside the file).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Serve Prometheus metrics at /metrics and the status at /status, on this loopback
        /// address (e.g. 127.0.0.1:9100).
        #[arg(long, value_name = "ADDR")]
        metrics: Option<SocketAddr>,
        /// How many lines of each program's output to keep for `arbor logs`.
        #[arg(long, default_value_t = 1000)]
        log_lines: usize,
    },
    /// Validate a file without running anything.
    Check {
        /// The file.
        #[arg(default_value = "arbor.toml")]
        file: String,
    },
    /// Print a commented example file.
    Example,
    /// Show every node of a running tree.
    Status {
        #[command(flatten)]
        to: Target,
        /// As JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Restart a node (a program, or a group with everything in it).
    Restart {
        /// Its name: a DN (`web.server`) or a leaf name only one node has (`server`).
        name: String,
        #[command(flatten)]
        to: Target,
    },
    /// Stop a node and keep it stopped.
    Stop {
        /// Its name.
        name: String,
        #[command(flatten)]
        to: Target,
    },
    /// Start a node stopped with `arbor stop`.
    Start {
        /// Its name.
        name: String,
        #[command(flatten)]
        to: Target,
    },
    /// Print the last lines of a program's output.
    Logs {
        /// Its name.
        name: String,
        /// Then keep printing new lines.
        #[arg(short, long)]
        follow: bool,
        /// How many of the last lines.
        #[arg(short = 'n', long, default_value_t = 100)]
        lines: usize,
        #[command(flatten)]
        to: Target,
    },
    /// Read the file again and apply the difference (as SIGHUP does).
    Reload {
        #[command(flatten)]
        to: Target,
    },
    /// Stop every program in order and end the run (as Ctrl-C does).
    Shutdown {
        #[command(flatten)]
        to: Target,
    },
}

/// Which running `arbor run` a command talks to.
#[derive(Debug, Args)]
struct Target {
    /// The file the run was started with; its socket is beside it.
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        default_value = "arbor.toml"
    )]
    file: PathBuf,
    /// The control socket, if the run was given `--socket`.
    #[arg(long)]
    socket: Option<PathBuf>,
}

impl Target {
    fn socket(&self) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| control::socket::default_path(&self.file))
    }
}

/// The example `arbor example` prints, checked by the tests.
const EXAMPLE: &str = include_str!("../../../examples/arbor.toml");

fn main() -> ExitCode {
    init_tracing();
    let (request, to, json) = match Cli::parse().command {
        Command::Example => {
            print!("{EXAMPLE}");
            return ExitCode::SUCCESS;
        }
        Command::Check { file } => return check_file(&file),
        Command::Run {
            file,
            plain,
            socket,
            metrics,
            log_lines,
        } => {
            return run::run(run::Options {
                file,
                plain,
                socket,
                metrics,
                log_lines,
            })
        }
        Command::Status { to, json } => (Request::Status, to, json),
        Command::Restart { name, to } => (Request::Restart { name }, to, false),
        Command::Stop { name, to } => (Request::Stop { name }, to, false),
        Command::Start { name, to } => (Request::Start { name }, to, false),
        Command::Logs {
            name,
            follow,
            lines,
            to,
        } => (
            Request::Logs {
                name,
                lines,
                follow,
            },
            to,
            false,
        ),
        Command::Reload { to } => (Request::Reload, to, false),
        Command::Shutdown { to } => (Request::Shutdown, to, false),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(control::client::send(&to.socket(), request, json)),
        Err(err) => {
            eprintln!("arbor: cannot start the runtime: {err}");
            ExitCode::from(control::client::UNREACHABLE)
        }
    }
}

/// arbor's own diagnostics on stderr (or in the live view, see [`diagnostics`]), at `warn`
/// unless `ARBOR_LOG` says otherwise (a `tracing` filter: `ARBOR_LOG=info`,
/// `ARBOR_LOG=arbor=debug`). Programs' output is not among them: the views show it.
fn init_tracing() {
    // The processor's line for each death repeats what the views show.
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARBOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,arbor::processor=off"))
        .add_directive(
            "arbor_process::output=off"
                .parse()
                .expect("a valid directive"),
        );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(diagnostics::Diagnostics)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Reads and checks the file at `path`; on failure prints every error and returns the exit
/// code.
pub(crate) fn load(path: &str) -> Result<plan::Plan, ExitCode> {
    let text = match std::fs::read_to_string(Path::new(path)) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("{path}: error: cannot read it: {err}");
            return Err(ExitCode::from(1));
        }
    };
    check::check(path, &text).map_err(|errors| {
        for error in &errors {
            eprintln!("{error}");
        }
        eprintln!(
            "{path}: {} error{}; nothing was started",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
        ExitCode::from(1)
    })
}

fn check_file(path: &str) -> ExitCode {
    match load(path) {
        Ok(plan) => {
            let programs = plan.root.programs("root");
            println!("{path}: ok, {} programs", programs.len());
            print_tree(&plan.root, 1);
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// The plan as an indented list: each member, its kind, and what it waits for.
fn print_tree(group: &plan::GroupPlan, depth: usize) {
    let indent = "  ".repeat(depth);
    for member in &group.members {
        let deps: Vec<String> = member
            .depends_on()
            .iter()
            .map(|(dep, condition)| format!("{dep} ({})", tree::describe_condition(*condition)))
            .collect();
        let after = if deps.is_empty() {
            String::new()
        } else {
            format!(", after {}", deps.join(", "))
        };
        match member {
            plan::Member::Program(p) => {
                let role = if group.is_lifecycle() {
                    let hook = format!("{:?}", p.hook).to_lowercase();
                    match (p.sidecar, p.leader) {
                        (true, _) => format!("{hook} sidecar"),
                        (_, true) => format!("{hook} leader"),
                        _ => hook,
                    }
                } else {
                    format!("{:?}", p.restart).to_lowercase()
                };
                println!("{indent}{} ({role}){after}", p.name);
            }
            plan::Member::Group(name, g) => {
                let kind = if g.is_lifecycle() {
                    "lifecycle group".to_owned()
                } else {
                    let strategy = match g.strategy {
                        plan::Strategy::OneForOne => "one_for_one",
                        plan::Strategy::OneForAll => "one_for_all",
                        plan::Strategy::RestForOne => "rest_for_one",
                    };
                    format!("group, {strategy}")
                };
                println!("{indent}{name} ({kind}){after}");
                print_tree(g, depth + 1);
            }
        }
    }
}
