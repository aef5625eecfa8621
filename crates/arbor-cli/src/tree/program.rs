//! A program's node: wait for its dependencies, then run its `arbor-process` command.

use std::sync::Arc;

use arbor::{Context, RunFuture, Runnable};
use arbor_process::{Command, OutputLine, Regex};

use super::{deps, Shared};
use crate::plan::{ProgramPlan, ReadyPlan, RestartType};

/// The command a program's plan describes, its output going to the hub under `dn`. A program
/// meant to finish (transient, temporary, or a lifecycle job) is a [`Command::job`]: exit
/// code 0 is Done, not a death.
pub(crate) fn command(
    plan: &ProgramPlan,
    dn: &str,
    shared: &Arc<Shared>,
    in_lifecycle: bool,
) -> Command {
    let mut cmd = Command::new(&plan.command[0])
        .args(&plan.command[1..])
        .envs(plan.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .grace_period(plan.grace)
        .stop_signal(plan.stop_signal)
        .ready_timeout(plan.ready_timeout);
    if let Some(dir) = &plan.dir {
        cmd = cmd.current_dir(dir);
    }
    cmd = match &plan.ready {
        // Checked already: a bad pattern never gets here.
        Some(ReadyPlan::Line(pattern)) => match Regex::new(pattern) {
            Ok(re) => cmd.ready_on_line(re),
            Err(_) => cmd,
        },
        Some(ReadyPlan::Port(port)) => cmd.ready_on_port(*port),
        Some(ReadyPlan::After(uptime)) => cmd.ready_after(*uptime),
        None => cmd,
    };
    let finishes = if in_lifecycle {
        !plan.sidecar
    } else {
        plan.restart != RestartType::Permanent
    };
    if finishes {
        cmd = cmd.job();
    }
    let (dn, shared) = (Arc::<str>::from(dn), shared.clone());
    cmd.on_output(move |line: OutputLine<'_>| shared.logs.push(&dn, line.stream, line.text))
}

/// A program under a level: waits for its siblings, then runs.
pub(crate) struct ProgramNode {
    pub(crate) plan: ProgramPlan,
    pub(crate) command: Command,
    /// The level's run, whose children the dependencies are.
    pub(crate) parent: Context,
    pub(crate) shared: Arc<Shared>,
}

impl Runnable for ProgramNode {
    fn run(&self, ctx: Context) -> RunFuture {
        let (command, parent, shared) = (
            self.command.clone(),
            self.parent.clone(),
            self.shared.clone(),
        );
        let depends_on = self.plan.depends_on.clone();
        Box::pin(async move {
            let dn = ctx.dn().to_string();
            deps::mark_waiting(&shared, &dn);
            if !deps::wait_for(&ctx, &parent, &shared, &depends_on).await {
                return Ok(()); // told to stop while waiting
            }
            deps::mark_started(&shared, &dn);
            command.run(ctx).await
        })
    }
}
