//! Reads and validates a file before anything starts: every error is found, each with its
//! file, line, column and a hint, so that `arbor check` and `arbor run` refuse a bad file
//! having started nothing. A file that passes becomes a [`Plan`].

use std::collections::BTreeMap;
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use arbor_process::UnixSignal;
use serde_spanned::Spanned;

use crate::config::{self, File, Program, Ready};
use crate::diagnostic::Diagnostic;
use crate::plan::{
    BackoffPlan, GroupPlan, Hook, Intensity, Member, Plan, ProgramPlan, ReadyPlan, RestartType,
    Strategy, DEFAULT_GRACE, DEFAULT_READY_TIMEOUT,
};

/// Parses and checks `text`, read from `path`.
pub(crate) fn check(path: &str, text: &str) -> Result<Plan, Vec<Diagnostic>> {
    let file: File = toml::from_str(text).map_err(|err| {
        let hint = err
            .message()
            .contains("unknown field")
            .then(|| "`arbor example` prints a file with every key".to_owned());
        vec![Diagnostic::at(
            path,
            text,
            err.span(),
            err.message().trim(),
            hint,
        )]
    })?;
    let mut checker = Checker {
        path,
        text,
        errors: Vec::new(),
    };
    let root = checker.group(
        "root",
        Level {
            strategy: file.strategy.as_ref(),
            intensity: file.intensity.as_ref(),
            restart: None,
            backoff: None,
            depends_on: &BTreeMap::new(),
            programs: &file.program,
            groups: &file.group,
        },
    );
    if checker.errors.is_empty() {
        Ok(Plan { root })
    } else {
        let mut errors = checker.errors;
        errors.sort_by_key(|d| (d.line, d.column));
        Err(errors)
    }
}

/// The keys a group (or the file, the root group) may have.
struct Level<'a> {
    strategy: Option<&'a Spanned<config::Strategy>>,
    intensity: Option<&'a Spanned<config::Intensity>>,
    restart: Option<&'a Spanned<RestartType>>,
    backoff: Option<&'a config::Backoff>,
    depends_on: &'a BTreeMap<Spanned<String>, config::Condition>,
    programs: &'a BTreeMap<Spanned<String>, Program>,
    groups: &'a BTreeMap<Spanned<String>, config::Group>,
}

/// A member as declared: where its name is, the name, and its table (a program's or a
/// group's).
type Named<'a> = (
    Range<usize>,
    &'a str,
    Option<&'a Program>,
    Option<&'a config::Group>,
);

struct Checker<'a> {
    path: &'a str,
    text: &'a str,
    errors: Vec<Diagnostic>,
}

const DURATION_HINT: &str = "a duration such as \"500ms\", \"5s\" or \"1m\"";
const NAME_HINT: &str = "names are 1 to 64 of a-z, 0-9 and _";

impl Checker<'_> {
    fn error(&mut self, span: Range<usize>, message: String, hint: Option<&str>) {
        self.errors.push(Diagnostic::at(
            self.path,
            self.text,
            Some(span),
            message,
            hint.map(str::to_owned),
        ));
    }

    fn duration(&mut self, value: Option<&Spanned<String>>, default: Duration) -> Duration {
        let Some(value) = value else {
            return default;
        };
        match humantime::parse_duration(value.get_ref()) {
            Ok(d) => d,
            Err(err) => {
                let message = format!("bad duration {:?}: {err}", value.get_ref());
                self.error(value.span(), message, Some(DURATION_HINT));
                default
            }
        }
    }

    /// A duration that must be more than zero.
    fn positive(&mut self, value: Option<&Spanned<String>>, default: Duration) -> Duration {
        let d = self.duration(value, default);
        if let (Some(value), true) = (value, d.is_zero()) {
            self.error(
                value.span(),
                format!("{:?} must be more than zero", value.get_ref()),
                Some(DURATION_HINT),
            );
            return default;
        }
        d
    }

    fn group(&mut self, dn: &str, level: Level<'_>) -> GroupPlan {
        // Members in file order: the order they start in.
        let mut named: Vec<Named<'_>> = Vec::new();
        for (name, program) in level.programs {
            named.push((name.span(), name.get_ref(), Some(program), None));
        }
        for (name, group) in level.groups {
            named.push((name.span(), name.get_ref(), None, Some(group)));
        }
        named.sort_by_key(|(span, ..)| span.start);
        let names: Vec<&str> = named.iter().map(|(_, n, ..)| *n).collect();

        let mut members = Vec::new();
        for (i, (span, name, program, group)) in named.iter().enumerate() {
            let kind = if program.is_some() {
                "program"
            } else {
                "group"
            };
            if let Err(err) = arbor::Name::new((*name).to_owned()) {
                let message = format!("bad {kind} name {name:?}: {}", err.reason());
                self.error(span.clone(), message, Some(NAME_HINT));
            }
            if names[..i].contains(name) {
                let message =
                    format!("{dn}.{name} is declared twice (a program and a group share names)");
                self.error(span.clone(), message, Some("give each child its own name"));
            }
            let member_dn = format!("{dn}.{name}");
            if let Some(program) = program {
                members.push(Member::Program(self.program(name, program)));
                self.dependencies(name, &program.depends_on, &names);
            }
            if let Some(group) = group {
                let plan = self.group(
                    &member_dn,
                    Level {
                        strategy: group.strategy.as_ref(),
                        intensity: group.intensity.as_ref(),
                        restart: group.restart.as_ref(),
                        backoff: group.backoff.as_ref(),
                        depends_on: &group.depends_on,
                        programs: &group.program,
                        groups: &group.group,
                    },
                );
                if plan.members.is_empty() {
                    let message = format!("group {member_dn} has no programs and no groups");
                    self.error(
                        span.clone(),
                        message,
                        Some("add a [group.NAME.program.X] table"),
                    );
                }
                self.dependencies(name, &group.depends_on, &names);
                members.push(Member::Group((*name).to_owned(), plan));
            }
        }
        self.cycles(&named);

        let strategy = level.strategy.map_or(Strategy::OneForOne, |s| *s.get_ref());
        let plan = GroupPlan {
            strategy,
            intensity: level.intensity.and_then(|i| self.intensity(i)),
            restart: level
                .restart
                .map_or(RestartType::Permanent, |r| *r.get_ref()),
            backoff: self.backoff(level.backoff),
            depends_on: dependencies(level.depends_on),
            members,
        };
        if plan.is_lifecycle() {
            self.lifecycle(dn, &level, &named);
        }
        plan
    }

    /// The rules of a task group (arbor-lifecycle), each reported at the key that breaks it.
    fn lifecycle(&mut self, dn: &str, level: &Level<'_>, named: &[Named<'_>]) {
        const HINT: &str = "see \"Lifecycle groups\" in docs/cli.md";
        if dn == "root" {
            for (_, name, program, _) in named {
                if let Some(p) = program {
                    for span in lifecycle_keys(p) {
                        let message = format!(
                            "root.{name}: hooks, sidecars and leaders belong to programs of a \
                             [group.NAME]"
                        );
                        self.error(span, message, Some("move the program into a group"));
                    }
                }
            }
            return;
        }
        if let Some(strategy) = level.strategy {
            let message = format!(
                "{dn} has lifecycle hooks, so each task restarts alone: it takes no strategy"
            );
            self.error(strategy.span(), message, Some(HINT));
        }
        let mut leaders = 0;
        let mut mains = 0;
        for (span, name, program, group) in named {
            if group.is_some() {
                let message = format!(
                    "{dn} has lifecycle hooks: its members are programs, and {name:?} is a group"
                );
                self.error(span.clone(), message, Some(HINT));
            }
            let Some(p) = program else { continue };
            let hook = p.hook.as_ref().map_or(Hook::Main, |h| *h.get_ref());
            let sidecar = p.sidecar.as_ref().is_some_and(|s| *s.get_ref());
            if hook == Hook::Main {
                mains += 1;
            }
            if let Some(restart) = &p.restart {
                let message = format!(
                    "{dn}.{name} is a task of a lifecycle group, whose role sets its restarts"
                );
                self.error(
                    restart.span(),
                    message,
                    Some(
                        "use `intensity` and `backoff` for its restart policy, or `sidecar = true`",
                    ),
                );
            }
            if let (Some(sidecar_key), Hook::Poststop) = (&p.sidecar, hook) {
                if sidecar {
                    let message = format!("{dn}.{name}: a poststop task cannot be a sidecar");
                    self.error(sidecar_key.span(), message, Some(HINT));
                }
            }
            if !p.depends_on.is_empty() {
                let first = p.depends_on.keys().next().map(Spanned::span);
                let message = format!(
                    "{dn}.{name} is a task of a lifecycle group, whose hooks order its tasks"
                );
                self.error(
                    first.unwrap_or(span.clone()),
                    message,
                    Some("depends_on orders programs outside lifecycle groups"),
                );
            }
            if let Some(leader) = p.leader.as_ref().filter(|l| *l.get_ref()) {
                leaders += 1;
                if hook != Hook::Main || sidecar {
                    let message = format!("{dn}.{name}: a leader must be a main task");
                    self.error(leader.span(), message, Some(HINT));
                }
                if leaders == 2 {
                    let message = format!("{dn} has two leaders");
                    self.error(
                        leader.span(),
                        message,
                        Some("a group has at most one leader"),
                    );
                }
            }
        }
        if mains == 0 {
            let span = named.first().map_or(0..0, |(s, ..)| s.clone());
            let message = format!("{dn} has lifecycle hooks but no main task");
            self.error(
                span,
                message,
                Some("a program without `hook` is a main task"),
            );
        }
    }

    fn program(&mut self, name: &str, program: &Program) -> ProgramPlan {
        if program.command.get_ref().is_empty() {
            self.error(
                program.command.span(),
                format!("program {name:?} has an empty command"),
                Some("command = [\"program\", \"arg\", ...]"),
            );
        }
        for key in program.env.keys() {
            if key.get_ref().is_empty() || key.get_ref().contains(['=', '\0']) {
                self.error(
                    key.span(),
                    format!("bad environment variable name {:?}", key.get_ref()),
                    Some("a name must be non-empty, without '=' or NUL"),
                );
            }
        }
        if let Some(dir) = &program.dir {
            if !std::path::Path::new(dir.get_ref()).is_dir() {
                self.error(
                    dir.span(),
                    format!("working directory {:?} is not a directory", dir.get_ref()),
                    None,
                );
            }
        }
        let ready = match &program.ready {
            Some(Ready::Line(pattern)) => {
                if let Err(err) = regex::Regex::new(pattern.get_ref()) {
                    let detail = err.to_string();
                    let detail = detail.lines().last().unwrap_or_default().trim().to_owned();
                    self.error(
                        pattern.span(),
                        format!("bad readiness regex: {detail}"),
                        None,
                    );
                }
                Some(ReadyPlan::Line(pattern.get_ref().clone()))
            }
            Some(Ready::After(uptime)) => Some(ReadyPlan::After(
                self.positive(Some(uptime), Duration::from_secs(1)),
            )),
            Some(Ready::Port(port)) => {
                if *port.get_ref() == 0 {
                    self.error(
                        port.span(),
                        format!("program {name:?}: port 0 cannot be waited for"),
                        Some("the port the program listens on, 1 to 65535"),
                    );
                }
                Some(ReadyPlan::Port(*port.get_ref()))
            }
            None => None,
        };
        let stop_signal = match &program.stop_signal {
            None => UnixSignal::SIGTERM,
            Some(text) => parse_signal(text.get_ref()).unwrap_or_else(|| {
                self.error(
                    text.span(),
                    format!("unknown signal {:?}", text.get_ref()),
                    Some("a signal name such as \"TERM\", \"INT\", \"QUIT\" or \"SIGHUP\""),
                );
                UnixSignal::SIGTERM
            }),
        };
        ProgramPlan {
            name: name.to_owned(),
            command: program.command.get_ref().clone(),
            env: program
                .env
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), v.clone()))
                .collect(),
            dir: program.dir.as_ref().map(|d| d.get_ref().clone()),
            ready,
            ready_timeout: self.positive(program.ready_timeout.as_ref(), DEFAULT_READY_TIMEOUT),
            stop_signal,
            grace: self.duration(program.grace.as_ref(), DEFAULT_GRACE),
            restart: program
                .restart
                .as_ref()
                .map_or(RestartType::Permanent, |r| *r.get_ref()),
            backoff: self.backoff(program.backoff.as_ref()),
            intensity: program.intensity.as_ref().and_then(|i| self.intensity(i)),
            depends_on: dependencies(&program.depends_on),
            hook: program.hook.as_ref().map_or(Hook::Main, |h| *h.get_ref()),
            sidecar: program.sidecar.as_ref().is_some_and(|s| *s.get_ref()),
            leader: program.leader.as_ref().is_some_and(|l| *l.get_ref()),
        }
    }

    fn backoff(&mut self, backoff: Option<&config::Backoff>) -> BackoffPlan {
        let default = BackoffPlan::default();
        let Some(b) = backoff else { return default };
        let plan = BackoffPlan {
            initial: self.positive(b.initial.as_ref(), default.initial),
            max: self.positive(b.max.as_ref(), default.max),
            multiplier: b.multiplier.as_ref().map_or(default.multiplier, |m| {
                let m_value = *m.get_ref();
                if !(1.0..=100.0).contains(&m_value) {
                    self.error(
                        m.span(),
                        format!("backoff multiplier {m_value} is out of range"),
                        Some("1.0 (a constant delay) to 100"),
                    );
                    return default.multiplier;
                }
                m_value
            }),
            reset_after: self.positive(b.reset_after.as_ref(), default.reset_after),
        };
        if let (Some(max), true) = (&b.max, plan.max < plan.initial) {
            self.error(
                max.span(),
                "the backoff's max is shorter than its initial delay".to_owned(),
                None,
            );
        }
        plan
    }

    fn intensity(&mut self, intensity: &Spanned<config::Intensity>) -> Option<Intensity> {
        let i = intensity.get_ref();
        let period = self.positive(Some(&i.period), Duration::from_secs(1));
        if i.max == 0 && i.exceeded == config::Exceeded::Wait {
            self.error(
                intensity.span(),
                "an intensity of 0 restarts cannot wait: nothing would ever restart".to_owned(),
                Some("max = 1 or more, or exceeded = \"fail\""),
            );
            return None;
        }
        Some(Intensity {
            max: i.max,
            period,
            exceeded: i.exceeded,
        })
    }

    /// Each dependency names a sibling.
    fn dependencies(
        &mut self,
        name: &str,
        deps: &BTreeMap<Spanned<String>, config::Condition>,
        siblings: &[&str],
    ) {
        for dep in deps.keys() {
            if !siblings.contains(&dep.get_ref().as_str()) {
                let close = closest(dep.get_ref(), siblings);
                let hint = close.map_or_else(
                    || "a dependency names a program or group beside this one".to_owned(),
                    |c| format!("did you mean {c:?}?"),
                );
                self.error(
                    dep.span(),
                    format!(
                        "{name:?} depends on {:?}, which its group does not declare",
                        dep.get_ref()
                    ),
                    Some(&hint),
                );
            }
        }
    }

    /// Every dependency cycle among siblings, once each, at the edge that closes it.
    fn cycles(&mut self, named: &[Named<'_>]) {
        let names: Vec<&str> = named.iter().map(|(_, n, ..)| *n).collect();
        let index = |name: &str| names.iter().position(|n| *n == name);
        let edges: Vec<Vec<(usize, Range<usize>)>> = named
            .iter()
            .map(|(_, _, program, group)| {
                let deps = program
                    .map(|p| &p.depends_on)
                    .or_else(|| group.map(|g| &g.depends_on));
                deps.into_iter()
                    .flat_map(BTreeMap::keys)
                    .filter_map(|d| index(d.get_ref()).map(|i| (i, d.span())))
                    .collect()
            })
            .collect();
        for (span, path) in find_cycles(&names, &edges) {
            self.error(
                span,
                format!("dependency cycle: {}", path.join(" -> ")),
                Some("a program cannot wait, even indirectly, for itself"),
            );
        }
    }
}

/// The keys of `p` that make its group a task group.
fn lifecycle_keys(p: &Program) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    if let Some(h) = p.hook.as_ref().filter(|h| *h.get_ref() != Hook::Main) {
        spans.push(h.span());
    }
    for flag in [&p.sidecar, &p.leader].into_iter().flatten() {
        if *flag.get_ref() {
            spans.push(flag.span());
        }
    }
    spans
}

fn dependencies(
    deps: &BTreeMap<Spanned<String>, config::Condition>,
) -> Vec<(String, config::Condition)> {
    deps.iter()
        .map(|(k, c)| (k.get_ref().clone(), *c))
        .collect()
}

/// `"TERM"`, `"SIGTERM"`, `"term"`: the signal, if it is one.
pub(crate) fn parse_signal(text: &str) -> Option<UnixSignal> {
    let upper = text.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    UnixSignal::from_str(&full).ok()
}

/// The name closest to `wrong`, if one is close enough to be a typo.
pub(crate) fn closest<'a>(wrong: &str, names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (strsim::levenshtein(wrong, n), *n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 3))
        .min()
        .map(|(_, n)| n)
}

/// Depth-first search for cycles: the span of each edge that closes one, and its path.
fn find_cycles(
    names: &[&str],
    edges: &[Vec<(usize, Range<usize>)>],
) -> Vec<(Range<usize>, Vec<String>)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unseen,
        OnPath,
        Done,
    }
    struct Search<'a> {
        names: &'a [&'a str],
        edges: &'a [Vec<(usize, Range<usize>)>],
        marks: Vec<Mark>,
        path: Vec<usize>,
        found: Vec<(Range<usize>, Vec<String>)>,
    }
    impl Search<'_> {
        fn visit(&mut self, node: usize) {
            self.marks[node] = Mark::OnPath;
            self.path.push(node);
            for (next, span) in &self.edges[node] {
                match self.marks[*next] {
                    Mark::OnPath => {
                        let from = self.path.iter().position(|n| n == next).unwrap_or(0);
                        let mut cycle: Vec<String> = self.path[from..]
                            .iter()
                            .map(|&n| self.names[n].to_owned())
                            .collect();
                        cycle.push(self.names[*next].to_owned());
                        self.found.push((span.clone(), cycle));
                    }
                    Mark::Unseen => self.visit(*next),
                    Mark::Done => {}
                }
            }
            self.path.pop();
            self.marks[node] = Mark::Done;
        }
    }
    let mut search = Search {
        names,
        edges,
        marks: vec![Mark::Unseen; names.len()],
        path: Vec::new(),
        found: Vec::new(),
    };
    for start in 0..names.len() {
        if search.marks[start] == Mark::Unseen {
            search.visit(start);
        }
    }
    search.found
}
