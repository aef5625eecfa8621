//! The client side: `arbor status`, `restart`, `stop`, `start`, `logs`, `reload` and
//! `shutdown`, each one request to a running `arbor run`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::{Reply, Request};
use crate::app::NodeView;

/// Exit code when the request was refused (a wrong name, a bad file on reload, ...).
pub(crate) const REFUSED: u8 = 1;
/// Exit code when no `arbor run` answers on the socket.
pub(crate) const UNREACHABLE: u8 = 3;

/// Sends `request` to the run listening on `socket` and prints the answer.
pub(crate) async fn send(socket: &Path, request: Request, json: bool) -> ExitCode {
    let shown = socket.display();
    let stream = match UnixStream::connect(socket).await {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("arbor: cannot reach a running arbor at {shown}: {err}");
            eprintln!("  = hint: is `arbor run` running for this file? (or pass --socket)");
            return ExitCode::from(UNREACHABLE);
        }
    };
    let (read, mut write) = stream.into_split();
    let mut text = serde_json::to_string(&request).unwrap_or_default();
    text.push('\n');
    if let Err(err) = write.write_all(text.as_bytes()).await {
        eprintln!("arbor: cannot send to {shown}: {err}");
        return ExitCode::from(UNREACHABLE);
    }
    let mut lines = BufReader::new(read).lines();
    let mut code = ExitCode::SUCCESS;
    let mut answered = false;
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(err) => {
                eprintln!("arbor: lost the connection to {shown}: {err}");
                return ExitCode::from(UNREACHABLE);
            }
        };
        answered = true;
        let reply: Reply = match serde_json::from_str(&line) {
            Ok(reply) => reply,
            Err(err) => {
                eprintln!("arbor: a reply I cannot read ({err}): {line}");
                return ExitCode::from(UNREACHABLE);
            }
        };
        if !reply.ok {
            eprintln!("arbor: {}", reply.error.unwrap_or_default());
            code = ExitCode::from(REFUSED);
            continue;
        }
        print(&request, &reply, json);
    }
    if !answered {
        eprintln!("arbor: {shown} closed without an answer");
        return ExitCode::from(UNREACHABLE);
    }
    code
}

fn print(request: &Request, reply: &Reply, json: bool) {
    let mut out = std::io::stdout().lock();
    if let Some(line) = &reply.line {
        // A group's logs are its programs': each line says whose.
        if reply.dn.as_deref().is_some_and(|dn| dn != line.dn) {
            let _ = writeln!(out, "{} | {}", crate::plain::short(&line.dn), line.text);
        } else {
            let _ = writeln!(out, "{}", line.text);
        }
        let _ = out.flush();
        return;
    }
    match request {
        Request::Status if json => {
            let nodes = reply.nodes.clone().unwrap_or_default();
            let text = serde_json::to_string_pretty(&serde_json::json!({ "nodes": nodes }));
            let _ = writeln!(out, "{}", text.unwrap_or_default());
        }
        Request::Status => {
            let _ = write!(out, "{}", table(reply.nodes.as_deref().unwrap_or_default()));
        }
        Request::Restart { .. } | Request::Stop { .. } | Request::Start { .. } => {
            let verb = match request {
                Request::Restart { .. } => "restarting",
                Request::Stop { .. } => "stopping",
                _ => "starting",
            };
            let dn = reply.dn.as_deref().unwrap_or_default();
            let _ = writeln!(out, "{verb} {}", crate::plain::short(dn));
        }
        Request::Reload => {
            let changes = reply.changes.clone().unwrap_or_default();
            if changes.is_empty() {
                let _ = writeln!(out, "reloaded: nothing changed");
            }
            for (dn, how) in changes {
                let _ = writeln!(out, "{how} {}", crate::plain::short(&dn));
            }
        }
        Request::Shutdown => {
            let _ = writeln!(out, "shutting down");
        }
        Request::Logs { .. } => {}
    }
}

/// The status as a table, one node a line, indented by depth.
pub(crate) fn table(nodes: &[NodeView]) -> String {
    let rows: Vec<[String; 6]> = nodes
        .iter()
        .map(|n| {
            let name = n.dn.rsplit('.').next().unwrap_or(&n.dn);
            let indent = "  ".repeat(n.depth);
            let mut state = n.state.clone();
            if n.stopping {
                state.push_str(" (stopping)");
            }
            let about = match (&n.waiting_for, &n.last_error, &n.stage) {
                (Some(w), ..) if n.state == "New" => format!("waiting for {w}"),
                (_, _, Some(stage)) => format!("stage {stage}"),
                (_, Some(e), _) => format!("last error: {e}"),
                _ => String::new(),
            };
            [
                format!("{indent}{name}"),
                state,
                n.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                uptime(n.in_state_ms),
                n.restarts.to_string(),
                about,
            ]
        })
        .collect();
    let header = ["NAME", "STATE", "PID", "FOR", "RESTARTS", ""].map(str::to_owned);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i == 5 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `3s`, `4m12s`, `2h05m`.
pub(crate) fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}
