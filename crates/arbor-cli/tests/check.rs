//! `arbor check` and `arbor example`, run as the built binary on real files.

use std::path::PathBuf;
use std::process::Command;

/// A file with `text` in a directory of its own, removed when the directory is dropped.
fn file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// A bad file: its name, its text, the place and start of its error, and words the error
/// must have.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// Checks each case: refused with exit code 1, the error at its place with its words, and
/// nothing started; with `only`, that error is the file's only one.
fn assert_each_refused(cases: &[Case], only: bool) {
    for (name, text, place, words) in cases {
        let (_dir, path) = file(name, text);
        let path = path.to_str().unwrap();
        let (code, out, err) = arbor(&["check", path]);
        assert_eq!(code, 1, "{name}: exit code 1 for a bad file; {out}{err}");
        assert!(
            err.contains(&format!("{path}{place}")),
            "{name}: {place:?} in:\n{err}"
        );
        for word in *words {
            assert!(err.contains(word), "{name}: {word:?} in:\n{err}");
        }
        let last = if only {
            "1 error; nothing was started"
        } else {
            "nothing was started"
        };
        assert!(err.contains(last), "{name}: {last:?} in:\n{err}");
    }
}

/// Runs `arbor ARGS`: exit code, stdout, stderr.
fn arbor(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arbor"))
        .args(args)
        .output()
        .expect("the arbor binary runs");
    (
        out.status.code().expect("exited"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_example_is_a_valid_file_and_check_lists_its_programs() {
    let (code, example, _) = arbor(&["example"]);
    assert_eq!(code, 0);
    let (_dir, path) = file("example.toml", &example);
    let (code, out, err) = arbor(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok, 6 programs"), "{out}");
    assert!(
        out.contains("  jobs (group, one_for_all), after web (healthy)"),
        "{out}"
    );
}

/// Each bad file, with the place and the words its error must have.
#[test]
fn every_bad_file_is_refused_with_file_line_column_and_a_hint() {
    let cases: &[Case] = &[
        (
            "unknown_key.toml",
            "[program.web]\ncommand = [\"sh\"]\nreadyy = 1\n",
            ":3:1: error: unknown field `readyy`",
            &["expected one of", "hint: `arbor example`"],
        ),
        (
            "bad_value.toml",
            "[program.web]\ncommand = [\"sh\"]\nrestart = \"sometimes\"\n",
            ":3:11: error: unknown variant `sometimes`",
            &["permanent", "transient", "temporary"],
        ),
        (
            "missing_command.toml",
            "[program.web]\ngrace = \"1s\"\n",
            ":1:1: error: missing field `command`",
            &[],
        ),
        (
            "syntax.toml",
            "[program.web\ncommand = [\"sh\"]\n",
            ":1:13: error:",
            &[],
        ),
        (
            "bad_name.toml",
            "[program.Web]\ncommand = [\"sh\"]\n",
            ":1:10: error: bad program name \"Web\"",
            &["lower-case", "hint: names are 1 to 64"],
        ),
        (
            "empty_command.toml",
            "[program.web]\ncommand = []\n",
            ":2:11: error: program \"web\" has an empty command",
            &["hint: command = ["],
        ),
        (
            "bad_duration.toml",
            "[program.web]\ncommand = [\"sh\"]\ngrace = \"5 parsecs\"\n",
            ":3:9: error: bad duration \"5 parsecs\"",
            &["hint: a duration such as"],
        ),
        (
            "bad_regex.toml",
            "[program.web]\ncommand = [\"sh\"]\nready = { line = \"(unclosed\" }\n",
            ":3:18: error: bad readiness regex",
            &["unclosed"],
        ),
        (
            "unknown_dependency.toml",
            "[program.web]\ncommand = [\"sh\"]\ndepends_on = { wrker = \"healthy\" }\n[program.worker]\ncommand = [\"sh\"]\n",
            ":3:16: error: \"web\" depends on \"wrker\", which its group does not declare",
            &["hint: did you mean \"worker\"?"],
        ),
        (
            "bad_condition.toml",
            "[program.web]\ncommand = [\"sh\"]\ndepends_on = { db = \"ready\" }\n[program.db]\ncommand = [\"sh\"]\n",
            ":3:21: error: unknown variant `ready`",
            &["healthy", "completed_successfully"],
        ),
        (
            "cycle.toml",
            "[program.a]\ncommand = [\"sh\"]\ndepends_on = { b = \"healthy\" }\n[program.b]\ncommand = [\"sh\"]\ndepends_on = { a = \"started\" }\n",
            ":6:16: error: dependency cycle: a -> b -> a",
            &["hint: a program cannot wait"],
        ),
        (
            "missing_dir.toml",
            "[program.web]\ncommand = [\"sh\"]\ndir = \"/no/such/dir\"\n",
            ":3:7: error: working directory \"/no/such/dir\" is not a directory",
            &[],
        ),
        (
            "bad_env.toml",
            "[program.web]\ncommand = [\"sh\"]\nenv = { \"A=B\" = \"1\" }\n",
            ":3:9: error: bad environment variable name \"A=B\"",
            &["hint: a name must be non-empty"],
        ),
    ];
    assert_each_refused(cases, false);
}

/// Each bad file for the keys of groups, restarts and lifecycles, with the place and the
/// words its error must have.
#[test]
fn every_bad_group_restart_and_lifecycle_key_is_refused_at_its_place() {
    let cases: &[Case] = &[
        (
            "group_unknown_key.toml",
            "[group.web]\nstrategy = \"one_for_one\"\nretries = 3\n[group.web.program.a]\ncommand = [\"sh\"]\n",
            ":3:1: error: unknown field `retries`",
            &["`strategy`", "`depends_on`", "hint: `arbor example`"],
        ),
        (
            "bad_strategy.toml",
            "[group.web]\nstrategy = \"all_for_one\"\n[group.web.program.a]\ncommand = [\"sh\"]\n",
            ":2:12: error: unknown variant `all_for_one`",
            &["one_for_one", "one_for_all", "rest_for_one"],
        ),
        (
            "bad_stop_signal.toml",
            "[program.a]\ncommand = [\"sh\"]\nstop_signal = \"NOPE\"\n",
            ":3:15: error: unknown signal \"NOPE\"",
            &["hint: a signal name such as \"TERM\""],
        ),
        (
            "bad_backoff_initial.toml",
            "[program.a]\ncommand = [\"sh\"]\nbackoff = { initial = \"soon\" }\n",
            ":3:23: error: bad duration \"soon\"",
            &["hint: a duration such as"],
        ),
        (
            "zero_backoff_initial.toml",
            "[program.a]\ncommand = [\"sh\"]\nbackoff = { initial = \"0s\" }\n",
            ":3:23: error: \"0s\" must be more than zero",
            &["hint: a duration such as"],
        ),
        (
            "backoff_max_below_initial.toml",
            "[program.a]\ncommand = [\"sh\"]\nbackoff = { initial = \"5s\", max = \"1s\" }\n",
            ":3:35: error: the backoff's max is shorter than its initial delay",
            &[],
        ),
        (
            "low_multiplier.toml",
            "[program.a]\ncommand = [\"sh\"]\nbackoff = { multiplier = 0.5 }\n",
            ":3:26: error: backoff multiplier 0.5 is out of range",
            &["hint: 1.0 (a constant delay) to 100"],
        ),
        (
            "zero_intensity_waits.toml",
            "[program.a]\ncommand = [\"sh\"]\nintensity = { max = 0, period = \"1s\", exceeded = \"wait\" }\n",
            ":3:13: error: an intensity of 0 restarts cannot wait",
            &["hint: max = 1 or more, or exceeded = \"fail\""],
        ),
        (
            "bad_intensity_period.toml",
            "[group.web]\nintensity = { max = 3, period = \"often\" }\n[group.web.program.a]\ncommand = [\"sh\"]\n",
            ":2:33: error: bad duration \"often\"",
            &["hint: a duration such as"],
        ),
        (
            "dependency_in_another_group.toml",
            "[group.web.program.server]\ncommand = [\"sh\"]\n[group.jobs.program.worker]\ncommand = [\"sh\"]\ndepends_on = { server = \"healthy\" }\n",
            ":5:16: error: \"worker\" depends on \"server\", which its group does not declare",
            &["hint: a dependency names a program or group beside this one"],
        ),
        (
            "group_cycle.toml",
            "[group.a]\ndepends_on = { b = \"healthy\" }\n[group.a.program.x]\ncommand = [\"sh\"]\n[group.b]\ndepends_on = { a = \"healthy\" }\n[group.b.program.y]\ncommand = [\"sh\"]\n",
            ":6:16: error: dependency cycle: a -> b -> a",
            &["hint: a program cannot wait, even indirectly, for itself"],
        ),
        (
            "program_and_group_share_a_name.toml",
            "[program.web]\ncommand = [\"sh\"]\n[group.web.program.x]\ncommand = [\"sh\"]\n",
            ":3:8: error: root.web is declared twice (a program and a group share names)",
            &["hint: give each child its own name"],
        ),
        (
            "hook_at_the_root.toml",
            "[program.migrate]\ncommand = [\"sh\"]\nhook = \"prestart\"\n[program.server]\ncommand = [\"sh\"]\n",
            ":3:8: error: root.migrate: hooks, sidecars and leaders belong to programs of a [group.NAME]",
            &["hint: move the program into a group"],
        ),
        (
            "leader_at_the_root.toml",
            "[program.server]\ncommand = [\"sh\"]\nleader = true\n",
            ":3:10: error: root.server: hooks, sidecars and leaders belong to programs of a [group.NAME]",
            &["hint: move the program into a group"],
        ),
        (
            "lifecycle_strategy.toml",
            "[group.web]\nstrategy = \"one_for_all\"\n[group.web.program.migrate]\ncommand = [\"sh\"]\nhook = \"prestart\"\n[group.web.program.server]\ncommand = [\"sh\"]\n",
            ":2:12: error: root.web has lifecycle hooks, so each task restarts alone: it takes no strategy",
            &["hint: see \"Lifecycle groups\""],
        ),
        (
            "lifecycle_explicit_one_for_one.toml",
            "[group.web]\nstrategy = \"one_for_one\"\n[group.web.program.migrate]\ncommand = [\"sh\"]\nhook = \"prestart\"\n[group.web.program.server]\ncommand = [\"sh\"]\n",
            ":2:12: error: root.web has lifecycle hooks, so each task restarts alone: it takes no strategy",
            &[],
        ),
        (
            "two_leaders.toml",
            "[group.web.program.a]\ncommand = [\"sh\"]\nleader = true\n[group.web.program.b]\ncommand = [\"sh\"]\nleader = true\n",
            ":6:10: error: root.web has two leaders",
            &["hint: a group has at most one leader"],
        ),
        (
            "leader_not_main.toml",
            "[group.web.program.migrate]\ncommand = [\"sh\"]\nhook = \"prestart\"\nleader = true\n[group.web.program.server]\ncommand = [\"sh\"]\n",
            ":4:10: error: root.web.migrate: a leader must be a main task",
            &[],
        ),
        (
            "poststop_sidecar.toml",
            "[group.web.program.server]\ncommand = [\"sh\"]\n[group.web.program.flush]\ncommand = [\"sh\"]\nhook = \"poststop\"\nsidecar = true\n",
            ":6:11: error: root.web.flush: a poststop task cannot be a sidecar",
            &["hint: see \"Lifecycle groups\""],
        ),
        (
            "lifecycle_restart.toml",
            "[group.web.program.migrate]\ncommand = [\"sh\"]\nhook = \"prestart\"\nrestart = \"transient\"\n[group.web.program.server]\ncommand = [\"sh\"]\n",
            ":4:11: error: root.web.migrate is a task of a lifecycle group, whose role sets its restarts",
            &["hint: use `intensity` and `backoff`"],
        ),
        (
            "lifecycle_depends_on.toml",
            "[group.web.program.migrate]\ncommand = [\"sh\"]\nhook = \"prestart\"\n[group.web.program.server]\ncommand = [\"sh\"]\ndepends_on = { migrate = \"completed_successfully\" }\n",
            ":6:16: error: root.web.server is a task of a lifecycle group, whose hooks order its tasks",
            &["hint: depends_on orders programs outside lifecycle groups"],
        ),
        (
            "lifecycle_without_main.toml",
            "[group.web.program.migrate]\ncommand = [\"sh\"]\nhook = \"prestart\"\n[group.web.program.flush]\ncommand = [\"sh\"]\nhook = \"poststop\"\n",
            ":1:20: error: root.web has lifecycle hooks but no main task",
            &["hint: a program without `hook` is a main task"],
        ),
        (
            "lifecycle_with_a_group.toml",
            "[group.web.program.migrate]\ncommand = [\"sh\"]\nhook = \"prestart\"\n[group.web.program.server]\ncommand = [\"sh\"]\n[group.web.group.inner.program.x]\ncommand = [\"sh\"]\n",
            ":6:18: error: root.web has lifecycle hooks: its members are programs, and \"inner\" is a group",
            &[],
        ),
        (
            "empty_group.toml",
            "[group.web]\nstrategy = \"one_for_one\"\n[program.a]\ncommand = [\"sh\"]\n",
            ":1:8: error: group root.web has no programs and no groups",
            &["hint: add a [group.NAME.program.X] table"],
        ),
        (
            "empty_nested_group.toml",
            "[group.web.program.a]\ncommand = [\"sh\"]\n[group.web.group.inner]\nrestart = \"transient\"\n",
            ":3:18: error: group root.web.inner has no programs and no groups",
            &["hint: add a [group.NAME.program.X] table"],
        ),
    ];
    assert_each_refused(cases, true);
}

/// The same keys, right: a file with every kind of group checks, and lists its tree.
#[test]
fn groups_and_a_lifecycle_group_check_and_list_their_tree() {
    let (_dir, path) = file(
        "groups.toml",
        r#"
[group.web.program.migrate]
command = ["sh", "-c", "true"]
hook = "prestart"

[group.web.program.server]
command = ["sleep", "100"]
leader = true
stop_signal = "INT"

[group.web.program.shipper]
command = ["sleep", "100"]
hook = "prestart"
sidecar = true

[group.jobs]
strategy = "rest_for_one"
intensity = { max = 3, period = "10s", exceeded = "wait" }
depends_on = { web = "healthy" }

[group.jobs.program.queue]
command = ["sleep", "100"]
backoff = { initial = "100ms", max = "5s", multiplier = 1.5, reset_after = "10s" }

[group.jobs.program.worker]
command = ["sleep", "100"]
restart = "transient"
depends_on = { queue = "started" }
"#,
    );
    let (code, out, err) = arbor(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok, 5 programs"), "{out}");
    for line in [
        "  web (lifecycle group)",
        "    migrate (prestart)",
        "    server (main leader)",
        "    shipper (prestart sidecar)",
        "  jobs (group, rest_for_one), after web (healthy)",
        "    queue (permanent)",
        "    worker (transient), after queue (started)",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in:\n{out}");
    }
}

#[test]
fn all_errors_of_a_file_are_reported_in_order() {
    let (_dir, path) = file(
        "many.toml",
        "[program.Bad]\ncommand = []\n[program.ok]\ncommand = [\"sh\"]\ngrace = \"x\"\n",
    );
    let (code, _, err) = arbor(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].contains(":1:10:") && lines[1].contains(":2:11:") && lines[2].contains(":5:9:"),
        "{err}"
    );
    assert!(err.contains("3 errors; nothing was started"), "{err}");
}

#[test]
fn a_missing_file_and_a_bad_command_line_have_their_own_exit_codes() {
    let (code, _, err) = arbor(&["check", "/no/such/arbor.toml"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("/no/such/arbor.toml: error: cannot read it"),
        "{err}"
    );
    let (code, _, err) = arbor(&["frobnicate"]);
    assert_eq!(code, 2, "{err}");
}
