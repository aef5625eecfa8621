//! `arbor check` and `arbor example`, run as the built binary on real files.

use std::path::PathBuf;
use std::process::Command;

/// A file with `text` in a directory of this test's own.
fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arbor-cli-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
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
    let path = file("example.toml", &example);
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
    let cases: &[(&str, &str, &str, &[&str])] = &[
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
    for (name, text, place, words) in cases {
        let path = file(name, text);
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
        assert!(err.contains("nothing was started"), "{name}: {err}");
    }
}

#[test]
fn all_errors_of_a_file_are_reported_in_order() {
    let path = file(
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
