//! Reads and validates a file before anything starts: every error is found, each with its
//! file, line, column and a hint, so that `arbor check` and `arbor run` refuse a bad file
//! having started nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_spanned::Spanned;

use crate::config::{File, Program, Ready};
use crate::diagnostic::Diagnostic;

/// A file that passed every check: what `arbor run` will supervise.
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) programs: Vec<(String, Program)>,
}

/// Parses and checks `text`, read from `path`.
pub(crate) fn check(path: &str, text: &str) -> Result<Checked, Vec<Diagnostic>> {
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
    let mut errors = Vec::new();
    let at = |span: std::ops::Range<usize>, message: String, hint: Option<String>| {
        Diagnostic::at(path, text, Some(span), message, hint)
    };
    let names: Vec<&str> = file.program.keys().map(|k| k.get_ref().as_str()).collect();
    for (name, program) in &file.program {
        if let Err(err) = arbor::Name::new(name.get_ref().clone()) {
            errors.push(at(
                name.span(),
                format!("bad program name {:?}: {}", name.get_ref(), err.reason()),
                Some("names are 1 to 64 of a-z, 0-9 and _".to_owned()),
            ));
        }
        if program.command.get_ref().is_empty() {
            errors.push(at(
                program.command.span(),
                format!("program {:?} has an empty command", name.get_ref()),
                Some("command = [\"program\", \"arg\", ...]".to_owned()),
            ));
        }
        for key in program.env.keys() {
            let bad = key.get_ref().is_empty() || key.get_ref().contains(['=', '\0']);
            if bad {
                errors.push(at(
                    key.span(),
                    format!("bad environment variable name {:?}", key.get_ref()),
                    Some("a name must be non-empty, without '=' or NUL".to_owned()),
                ));
            }
        }
        if let Some(dir) = &program.dir {
            if !std::path::Path::new(dir.get_ref()).is_dir() {
                errors.push(at(
                    dir.span(),
                    format!("working directory {:?} is not a directory", dir.get_ref()),
                    None,
                ));
            }
        }
        if let Some(grace) = &program.grace {
            if let Err(err) = duration(grace) {
                errors.push(at(grace.span(), err, Some(DURATION_HINT.to_owned())));
            }
        }
        match &program.ready {
            Some(Ready::Line(pattern)) => {
                if let Err(err) = regex::Regex::new(pattern.get_ref()) {
                    let first = err.to_string();
                    let first = first.lines().last().unwrap_or_default().trim().to_owned();
                    errors.push(at(
                        pattern.span(),
                        format!("bad readiness regex: {first}"),
                        None,
                    ));
                }
            }
            Some(Ready::After(uptime)) => {
                if let Err(err) = duration(uptime) {
                    errors.push(at(uptime.span(), err, Some(DURATION_HINT.to_owned())));
                }
            }
            Some(Ready::Port(0)) => errors.push(Diagnostic::at(
                path,
                text,
                None,
                format!("program {:?}: port 0 cannot be waited for", name.get_ref()),
                None,
            )),
            Some(Ready::Port(_)) | None => {}
        }
        for dep in program.depends_on.keys() {
            if !names.contains(&dep.get_ref().as_str()) {
                let close = strsim_closest(dep.get_ref(), &names);
                errors.push(at(
                    dep.span(),
                    format!(
                        "program {:?} depends on {:?}, which the file does not declare",
                        name.get_ref(),
                        dep.get_ref()
                    ),
                    close.map(|c| format!("did you mean {c:?}?")),
                ));
            }
        }
    }
    errors.extend(cycles(&file.program).into_iter().map(|(span, path_names)| {
        at(
            span,
            format!("dependency cycle: {}", path_names.join(" -> ")),
            Some("a program cannot wait, even indirectly, for itself".to_owned()),
        )
    }));
    if errors.is_empty() {
        Ok(Checked {
            programs: file
                .program
                .into_iter()
                .map(|(name, program)| (name.into_inner(), program))
                .collect(),
        })
    } else {
        errors.sort_by_key(|d| (d.line, d.column));
        Err(errors)
    }
}

const DURATION_HINT: &str = "a duration such as \"500ms\", \"5s\" or \"1m\"";

/// A duration such as `500ms` or `2s`.
pub(crate) fn duration(text: &Spanned<String>) -> Result<Duration, String> {
    humantime::parse_duration(text.get_ref())
        .map_err(|err| format!("bad duration {:?}: {err}", text.get_ref()))
}

/// The declared name closest to `wrong`, if one is close enough to be a typo.
fn strsim_closest<'a>(wrong: &str, names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (strsim::levenshtein(wrong, n), *n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 3))
        .min()
        .map(|(_, n)| n)
}

/// Every dependency cycle, once each: the span of the edge that closes it, and its path.
fn cycles(
    programs: &BTreeMap<Spanned<String>, Program>,
) -> Vec<(std::ops::Range<usize>, Vec<String>)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unseen,
        OnPath,
        Done,
    }
    let names: Vec<&str> = programs.keys().map(|k| k.get_ref().as_str()).collect();
    let index = |name: &str| names.iter().position(|n| *n == name);
    let edges: Vec<Vec<(usize, std::ops::Range<usize>)>> = programs
        .values()
        .map(|p| {
            p.depends_on
                .keys()
                .filter_map(|d| index(d.get_ref()).map(|i| (i, d.span())))
                .collect()
        })
        .collect();
    let mut marks = vec![Mark::Unseen; names.len()];
    let mut found = Vec::new();
    fn visit(
        node: usize,
        edges: &[Vec<(usize, std::ops::Range<usize>)>],
        marks: &mut [Mark],
        path: &mut Vec<usize>,
        names: &[&str],
        found: &mut Vec<(std::ops::Range<usize>, Vec<String>)>,
    ) {
        marks[node] = Mark::OnPath;
        path.push(node);
        for (next, span) in &edges[node] {
            match marks[*next] {
                Mark::OnPath => {
                    let from = path.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[from..].iter().map(|&n| names[n].to_owned()).collect();
                    cycle.push(names[*next].to_owned());
                    found.push((span.clone(), cycle));
                }
                Mark::Unseen => visit(*next, edges, marks, path, names, found),
                Mark::Done => {}
            }
        }
        path.pop();
        marks[node] = Mark::Done;
    }
    for start in 0..names.len() {
        if marks[start] == Mark::Unseen {
            visit(
                start,
                &edges,
                &mut marks,
                &mut Vec::new(),
                &names,
                &mut found,
            );
        }
    }
    found
}
