//! What a command hands back and how it reaches the terminal: [`Report`], the exit code, the
//! one JSON document of `--json` (errors included, schema in JSON.md), and the text of a change
//! (`Change<T>`: its steps, warnings and result) that every group shares.
//!
//! Renders no domain object itself; groups pass their own renderer in.

use crate::error::{CtlError, EXIT_FAILED, EXIT_USAGE};
use crate::text::{printable, printable_lines};
use crate::values::validation_error;
use corenas_proto::WireError;
use corenas_proto::api::Change;
use corenas_proto::helper::Step;
use corenas_proto::secret::Password;
use serde::Serialize;
use serde_json::json;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::process::ExitCode;

/// The outcome of a command that succeeded as far as corenasd is concerned.
#[derive(Debug)]
pub enum Report {
    /// Human text and the equivalent JSON document; `--json` picks which one is printed.
    Answer { human: String, json: String, exit: u8 },
    /// Bytes printed as they are, `--json` or not (completions, the manual page).
    Raw(Vec<u8>),
    /// Already written while the command ran (an export streamed to stdout).
    Written,
}

impl Report {
    pub fn ok(human: String, json: String) -> Self {
        Self::Answer { human, json, exit: 0 }
    }
}

/// Serializes an answer directly (not through `serde_json::Value`), so fields keep their
/// declared order. The types involved always serialize; a failure is still reported.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, CtlError> {
    serde_json::to_string(value).map_err(|e| {
        CtlError::failed(corenas_proto::ErrorCode::Internal, format!("cannot encode the answer as JSON: {e}"))
    })
}

/// Prints the report or the error and turns the outcome into the process exit code.
pub fn finish(json: bool, outcome: Result<Report, CtlError>) -> ExitCode {
    let (text, exit): (Cow<'_, [u8]>, u8) = match &outcome {
        Ok(Report::Answer { human, json: doc, exit }) => {
            if json {
                (Cow::Owned(format!("{doc}\n").into_bytes()), *exit)
            } else {
                (Cow::Borrowed(human.as_bytes()), *exit)
            }
        }
        Ok(Report::Raw(bytes)) => (Cow::Borrowed(bytes.as_slice()), 0),
        Ok(Report::Written) => (Cow::Borrowed(&[][..]), 0),
        Err(e) => {
            if json {
                (Cow::Owned(format!("{}\n", error_json(&e.wire())).into_bytes()), e.exit_code())
            } else {
                // Multi-line messages (a tool's stderr) keep their lines; other controls are escaped.
                let _ = writeln!(io::stderr(), "error: {}", printable_lines(&e.to_string()));
                return ExitCode::from(e.exit_code());
            }
        }
    };
    let mut stdout = io::stdout().lock();
    match stdout.write_all(&text).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::from(exit),
        // The reader went away (`| head`); what it wanted was printed.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(exit),
        Err(e) => {
            let _ = writeln!(io::stderr(), "error: cannot write to stdout: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// `{"error":{"code":"E_…","message":"…","field":…}}` with the stable code, not the enum name.
pub fn error_json(e: &WireError) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        code: &'a str,
        message: &'a str,
        field: Option<&'a str>,
    }
    #[derive(Serialize)]
    struct Document<'a> {
        error: Body<'a>,
    }
    let doc = Document { error: Body { code: e.code.as_str(), message: &e.message, field: e.field.as_deref() } };
    // Strings and an option of a string always serialize; the fallback only keeps the shape.
    serde_json::to_string(&doc).unwrap_or_else(|_| json!({ "error": { "code": e.code.as_str() } }).to_string())
}

/// A command line clap refused. Human mode keeps clap's own message and usage hint.
pub fn usage_error(err: &clap::Error, json: bool) -> ExitCode {
    let informational = !err.use_stderr();
    if !json || informational {
        // Help and --version go to stdout; a failure to print them has nowhere to be reported.
        let _ = err.print();
        return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(EXIT_USAGE));
    }
    let wire = match validation_error(err) {
        Some(v) => WireError::from(v.clone()),
        None => WireError::new(corenas_proto::ErrorCode::InvalidInput, clap_message(err)),
    };
    let _ = writeln!(io::stdout(), "{}", error_json(&wire));
    ExitCode::from(EXIT_USAGE)
}

/// clap's message on one line, without the "error: " prefix and the usage and help hints.
pub(crate) fn clap_message(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let body = rendered.strip_prefix("error: ").unwrap_or(&rendered);
    let body = body.split("\n\nUsage:").next().unwrap_or(body);
    let body = body.split("\n\nFor more information").next().unwrap_or(body);
    body.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn generated_note(p: &Password) -> String {
    format!("generated password (shown once; corenasd keeps no copy): {}\n", p.expose())
}

/// Each line of `text` behind `first` (the first line) or `rest` (the others), with control
/// and bidi characters escaped: line breaks separate lines, they are never passed through.
pub(crate) fn indented(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.split('\n').enumerate() {
        let _ = writeln!(out, "{}{}", if i == 0 { first } else { rest }, printable_lines(line));
    }
    out
}

/// One step of a change, two spaces in; a step of several lines (a file and its diff) has its
/// further lines four spaces in.
pub(crate) fn step_text(step: &Step) -> String {
    indented(&step.to_string(), "  ", "    ")
}

/// `warning: …` lines, one per warning, after everything else a change prints.
pub(crate) fn warnings_text(warnings: &[String]) -> String {
    warnings.iter().map(|w| indented(w, "warning: ", "         ")).collect()
}

/// A change as corenasd sent it, plus the generated password in clear, this once.
#[derive(Serialize)]
pub(crate) struct ChangeDocument<'a, T> {
    #[serde(flatten)]
    change: &'a Change<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
}

/// A `Change<T>`: the steps that ran (or would run), then the result rendered by `result`.
/// In JSON a generated password, redacted by its own serializer, is added as `"password"`.
pub fn change_report<T: Serialize>(change: &Change<T>, result: impl Fn(&T) -> String) -> Result<Report, CtlError> {
    let mut human = String::new();
    if change.dry_run {
        human.push_str("dry run: nothing changed; would run:\n");
    } else if change.steps.is_empty() {
        human.push_str("done; nothing needed to change\n");
    } else {
        human.push_str("done; ran:\n");
    }
    for step in &change.steps {
        human.push_str(&step_text(step));
    }
    if change.dry_run && change.steps.is_empty() {
        human.push_str("  (no steps: nothing would change)\n");
    }
    if let (false, Some(r)) = (change.dry_run, &change.result) {
        human.push_str(&result(r));
    }
    if let Some(p) = &change.generated_password {
        human.push_str(&generated_note(p));
    }
    human.push_str(&warnings_text(&change.warnings));
    let doc = to_json(&ChangeDocument { change, password: change.generated_password.as_ref().map(Password::expose) })?;
    Ok(Report::ok(human, doc))
}

/// An imaging change. Most of them are corenasd's own work (the queue, a job's state, archive
/// records) rather than helper steps, so an empty step list does not mean nothing happened:
/// `action` says what was (or would be) done, and the result shows the outcome.
pub fn imaging_change_report<T: Serialize>(
    change: &Change<T>,
    action: &str,
    result: impl Fn(&T) -> String,
) -> Result<Report, CtlError> {
    let mut human = String::new();
    if change.dry_run {
        let _ = write!(human, "dry run: nothing changed; would {}", printable(action));
        human.push_str(if change.steps.is_empty() { "\n" } else { ", running:\n" });
    } else if !change.steps.is_empty() {
        human.push_str("ran:\n");
    }
    for step in &change.steps {
        human.push_str(&step_text(step));
    }
    match (change.dry_run, &change.result) {
        (true, _) => {}
        (false, Some(r)) => human.push_str(&result(r)),
        (false, None) => {
            let _ = writeln!(human, "done: {}", printable(action));
        }
    }
    human.push_str(&warnings_text(&change.warnings));
    Ok(Report::ok(human, to_json(change)?))
}

/// Nothing to print for `Change<()>` results.
pub fn nothing(_: &()) -> String {
    String::new()
}

/// Live output while a command runs. A reader that went away (`| head`) is not an error here;
/// the final report notices it too.
pub fn print_stdout(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::step;
    use crate::testing::try_parse;
    use corenas_proto::ErrorCode;

    use corenas_proto::helper::Step;

    use crate::error::CtlError;

    #[test]
    fn multi_line_steps_are_indented_and_warnings_follow_everything() {
        let change: Change<()> = Change {
            dry_run: true,
            steps: vec![
                Step::WriteFile {
                    path: "/etc/exports.d/corenas.exports".into(),
                    diff: "-/storage/a 10.0.0.1(rw)\r\n+/storage/a\t10.0.0.2(ro)\u{1b}]0;x\u{7}\u{202e}\n".into(),
                },
                step(),
            ],
            result: None,
            generated_password: None,
            warnings: vec!["guest access is on for share pub".into(), "two\nlines\u{1b}[2J".into()],
        };
        let Report::Answer { human, json, .. } = change_report(&change, nothing).unwrap() else { panic!() };
        assert_eq!(
            human,
            "dry run: nothing changed; would run:\n\
             \x20 (in-process) write /etc/exports.d/corenas.exports\n\
             \x20   -/storage/a 10.0.0.1(rw)\\u{d}\n\
             \x20   +/storage/a\t10.0.0.2(ro)\\u{1b}]0;x\\u{7}\\u{202e}\n\
             \x20 /usr/sbin/useradd --uid 50001 alice\n\
             warning: guest access is on for share pub\n\
             warning: two\n\
             \x20        lines\\u{1b}[2J\n"
        );
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["warnings"][0], "guest access is on for share pub");

        // Imaging changes show them too.
        let Report::Answer { human, .. } = imaging_change_report(&change, "eject /dev/sr0", nothing).unwrap() else {
            panic!()
        };
        assert!(human.contains("\n    -/storage/a 10.0.0.1(rw)\\u{d}\n"), "{human}");
        assert!(human.ends_with("warning: guest access is on for share pub\nwarning: two\n         lines\\u{1b}[2J\n"));
    }

    #[test]
    fn errors_carry_the_stable_code() {
        let e = WireError::invalid("user", "user name 'Max!' is invalid");
        assert_eq!(
            error_json(&e),
            r#"{"error":{"code":"E_INVALID_INPUT","message":"user name 'Max!' is invalid","field":"user"}}"#
        );
        let e = WireError::new(ErrorCode::NotFound, "no user bob");
        assert_eq!(error_json(&e), r#"{"error":{"code":"E_NOT_FOUND","message":"no user bob","field":null}}"#);
        assert_eq!(CtlError::from(e).to_string(), "no user bob");
        assert_eq!(CtlError::Failed(WireError::invalid("uid", "bad")).to_string(), "bad (field: uid)");
    }

    #[test]
    fn clap_messages_fit_on_one_line() {
        let err = try_parse(["corenas-ctl", "user", "add"]).unwrap_err();
        let text = clap_message(&err);
        assert!(text.starts_with("the following required arguments were not provided: "), "{text}");
        assert!(text.contains("--kind <KIND>") && text.contains("<NAME>") && !text.contains('\n'), "{text}");
    }

    #[test]
    fn error_messages_keep_lines_but_not_escapes() {
        assert_eq!(printable_lines("useradd: failed\n\tline 2"), "useradd: failed\n\tline 2");
        assert_eq!(printable_lines("a\u{1b}]0;title\u{7}b"), "a\\u{1b}]0;title\\u{7}b");
        assert_eq!(printable("a\nb"), "a\\u{a}b");
    }
}
