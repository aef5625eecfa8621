//! The server side of the control socket, inside `arbor run`.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast::error::RecvError;

use super::{LineView, Reply, Request};
use crate::app::App;
use crate::names;

/// Answers clients until the run ends.
pub(crate) async fn serve(listener: UnixListener, app: Arc<App>) {
    let uid = nix::unistd::getuid().as_raw();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                tracing::warn!(error = %err, "control socket: accept failed");
                continue;
            }
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == uid => {}
            Ok(cred) => {
                tracing::warn!(
                    peer_uid = cred.uid(),
                    "control socket: refused another user"
                );
                // The request is read first, so that the client gets the refusal whatever it
                // does first, and nothing of it is obeyed.
                let refusal = Reply::error(format!(
                    "refused: this arbor takes orders from its own user (uid {uid}) only"
                ));
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut line = String::new();
                    let _ = BufReader::new(read).read_line(&mut line).await;
                    let _ = send(&mut write, &refusal).await;
                });
                continue;
            }
            Err(err) => {
                tracing::warn!(error = %err, "control socket: no peer credentials; refused");
                continue;
            }
        }
        tokio::spawn(connection(stream, app.clone()));
    }
}

async fn connection(stream: UnixStream, app: Arc<App>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    if BufReader::new(read).read_line(&mut line).await.is_err() {
        return;
    }
    let reply = match serde_json::from_str::<Request>(&line) {
        Err(err) => Reply::error(format!("bad request: {err}")),
        Ok(Request::Logs {
            name,
            lines,
            follow,
        }) => {
            logs(&app, &name, lines, follow, &mut write).await;
            return;
        }
        Ok(request) => answer(&app, request).await,
    };
    let _ = send(&mut write, &reply).await;
}

async fn send(write: &mut (impl AsyncWriteExt + Unpin), reply: &Reply) -> std::io::Result<()> {
    let mut text = serde_json::to_string(reply).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    write.write_all(text.as_bytes()).await
}

/// The DN `name` means now.
async fn resolve(app: &App, name: &str) -> Result<String, String> {
    let status = app.sup.status().await;
    let dns: Vec<String> = status.iter().map(|n| n.dn.to_string()).collect();
    let dns: Vec<&str> = dns.iter().map(String::as_str).collect();
    names::resolve(name, &dns)
}

async fn answer(app: &App, request: Request) -> Reply {
    let order = |result: Result<(), arbor::Error>, dn: String| match result {
        Ok(()) => Reply {
            dn: Some(dn),
            ..Reply::ok()
        },
        Err(err) => Reply::error(err.to_string()),
    };
    match request {
        Request::Status => Reply {
            nodes: Some(app.nodes().await),
            ..Reply::ok()
        },
        Request::Restart { name } => match resolve(app, &name).await {
            Ok(dn) => order(app.sup.restart_node(&dn).await, dn),
            Err(err) => Reply::error(err),
        },
        Request::Stop { name } => match resolve(app, &name).await {
            Ok(dn) => order(app.sup.stop_node(&dn).await, dn),
            Err(err) => Reply::error(err),
        },
        Request::Start { name } => match resolve(app, &name).await {
            Ok(dn) => order(app.sup.start_node(&dn).await, dn),
            Err(err) => Reply::error(err),
        },
        Request::Reload => match app.reload() {
            Ok(changes) => Reply {
                changes: Some(changes),
                ..Reply::ok()
            },
            Err(err) => Reply::error(err),
        },
        Request::Shutdown => {
            app.request_shutdown();
            Reply::ok()
        }
        Request::Logs { .. } => Reply::error("logs are answered as a stream"),
    }
}

/// The last `lines` of `name`'s output, then (with `follow`) each new line, until the client
/// hangs up or the run ends.
async fn logs(
    app: &App,
    name: &str,
    lines: usize,
    follow: bool,
    write: &mut (impl AsyncWriteExt + Unpin),
) {
    let dn = match resolve(app, name).await {
        Ok(dn) => dn,
        Err(err) => {
            let _ = send(write, &Reply::error(err)).await;
            return;
        }
    };
    // Subscribed before the tail is taken, so no line falls between the two. A group's logs
    // are its programs' together.
    let mut new = app.shared.logs.follow();
    let tail = app.shared.logs.tail(&dn, lines);
    let below = format!("{dn}.");
    let ours = |line_dn: &str| line_dn == dn || line_dn.starts_with(&below);
    for line in &tail {
        let reply = Reply {
            dn: Some(dn.clone()),
            line: Some(LineView::from(line.as_ref())),
            ..Reply::ok()
        };
        if send(write, &reply).await.is_err() {
            return;
        }
    }
    if follow {
        // Lines pushed between subscribing and taking the tail are in both: skip up to the
        // tail's last line.
        let mut skipping = !tail.is_empty();
        loop {
            let line = match new.recv().await {
                Ok(line) => line,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            };
            if skipping {
                if tail.iter().any(|t| Arc::ptr_eq(t, &line)) {
                    continue;
                }
                skipping = false;
            }
            if !ours(&line.dn) {
                continue;
            }
            let reply = Reply {
                dn: Some(dn.clone()),
                line: Some(LineView::from(line.as_ref())),
                ..Reply::ok()
            };
            if send(write, &reply).await.is_err() {
                return;
            }
        }
    }
    let _ = send(write, &Reply::ok()).await;
}
