//! Passwords enter corenas-ctl two ways only: typed at /dev/tty with echo off, or the first line
//! of stdin with `--password-stdin`. Never argv, never the environment, never echoed or logged.
//!
//! The prompt switches the terminal to non-canonical mode without ISIG, so Ctrl-C and Ctrl-Z
//! arrive as bytes we handle: the process is never stopped or killed by the keyboard while echo
//! is off, and the terminal is restored on every way out (including a panic, by `Drop`).

use crate::error::CtlError;
use corenas_proto::secret::Password;
use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};

/// Generous cap on one line of input; the policy allows 128 characters.
pub(crate) const LINE_CAP: usize = 4096;
const ATTEMPTS: u32 = 3;

/// Where a password comes from, decided from the flags and whether stdin is a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Stdin,
    Prompt,
    /// Neither flag and no terminal.
    Absent,
}

pub fn source(password_stdin: bool) -> Source {
    if password_stdin {
        Source::Stdin
    } else if io::stdin().is_terminal() {
        Source::Prompt
    } else {
        Source::Absent
    }
}

/// `--password-stdin`: the first line of stdin, its newline stripped, validated. A CR is kept
/// (and refused by the policy): a password must never be silently different from what was sent.
pub fn from_stdin() -> Result<Password, CtlError> {
    read_line(io::stdin().lock())
}

fn read_line(input: impl Read) -> Result<Password, CtlError> {
    // A non-UTF-8 byte becomes U+FFFD, which the ASCII policy then refuses with its own message.
    Ok(Password::new(first_line(input)?)?)
}

/// The first line of `input` without its newline, capped; shared by every `--password-stdin`.
pub fn first_line(input: impl Read) -> Result<String, CtlError> {
    let mut line = Vec::new();
    BufReader::new(input.take(LINE_CAP as u64 + 1))
        .read_until(b'\n', &mut line)
        .map_err(|e| CtlError::usage("password", format!("cannot read the password from stdin: {e}")))?;
    if line.is_empty() {
        return Err(CtlError::usage("password", "stdin is empty: write the password as its first line"));
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() > LINE_CAP {
        return Err(CtlError::usage("password", "the first line of stdin is too long to be a password"));
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Asks twice on /dev/tty for a new password, with echo off, allowing a few attempts.
/// `label` is e.g. "password for alice"; with `allow_empty`, an empty answer means no password.
pub fn prompt_new(label: &str, allow_empty: bool) -> Result<Option<Password>, CtlError> {
    on_tty(label, |input, output, keys| dialogue(input, output, label, allow_empty, keys))
}

/// Asks twice on /dev/tty for another server's password (an SMTP relay's): only printable
/// text is required, since that server chose it, not CoreNAS's policy.
pub fn prompt_remote(label: &str) -> Result<Option<corenas_proto::secret::RemoteSecret>, CtlError> {
    use corenas_proto::secret::RemoteSecret;
    on_tty(label, |input, output, keys| {
        dialogue_for(input, output, label, false, keys, RemoteSecret::new, RemoteSecret::expose)
    })
}

/// Asks twice on /dev/tty for a new secret of another kind (an archive's passphrase), checked
/// by `parse`.
pub fn prompt_new_with<T>(
    label: &str,
    parse: fn(String) -> Result<T, corenas_proto::ValidationError>,
    expose: fn(&T) -> &str,
) -> Result<Option<T>, CtlError> {
    on_tty(label, |input, output, keys| dialogue_for(input, output, label, false, keys, parse, expose))
}

/// Asks once on /dev/tty, echo off, for an existing secret (an archive's passphrase).
pub fn prompt_existing<T>(
    label: &str,
    parse: fn(String) -> Result<T, corenas_proto::ValidationError>,
) -> Result<Option<T>, CtlError> {
    on_tty(label, |input, output, keys| {
        let tty_err = |e: io::Error| CtlError::usage("password", format!("cannot use the terminal: {e}"));
        write!(output, "{label}: ").and_then(|()| output.flush()).map_err(tty_err)?;
        let line = read_hidden_line(input, keys);
        writeln!(output).map_err(tty_err)?;
        Ok(Some(parse(line?)?))
    })
}

/// Runs a prompt conversation on /dev/tty with echo off.
fn on_tty<T>(
    label: &str,
    talk: impl FnOnce(&mut &File, &mut &File, Keys) -> Result<Option<T>, CtlError>,
) -> Result<Option<T>, CtlError> {
    let tty = File::options().read(true).write(true).open("/dev/tty").map_err(|e| {
        CtlError::usage(
            "password",
            format!("cannot open the terminal (/dev/tty) to ask for the {label}: {e}; use --password-stdin"),
        )
    })?;
    let quiet = QuietTerminal::enter(&tty).map_err(|e| {
        CtlError::usage("password", format!("cannot turn off echo on the terminal: {e}; use --password-stdin"))
    })?;
    let keys = quiet.keys;
    let mut input = &tty;
    let mut output = &tty;
    let answer = talk(&mut input, &mut output, keys);
    drop(quiet);
    answer
}

/// The prompt conversation, independent of a real terminal so it can be tested.
fn dialogue(
    input: &mut impl Read,
    output: &mut impl Write,
    label: &str,
    allow_empty: bool,
    keys: Keys,
) -> Result<Option<Password>, CtlError> {
    dialogue_for(input, output, label, allow_empty, keys, Password::new, Password::expose)
}

/// The conversation for any kind of secret: `parse` checks an answer (CoreNAS's policy for
/// its own passwords, only printable text for another server's), `expose` compares the retype.
fn dialogue_for<T>(
    input: &mut impl Read,
    output: &mut impl Write,
    label: &str,
    allow_empty: bool,
    keys: Keys,
    parse: fn(String) -> Result<T, corenas_proto::ValidationError>,
    expose: fn(&T) -> &str,
) -> Result<Option<T>, CtlError> {
    let tty_err = |e: io::Error| CtlError::usage("password", format!("cannot use the terminal: {e}"));
    let hint = if allow_empty { " (empty for none)" } else { "" };
    for _ in 0..ATTEMPTS {
        write!(output, "New {label}{hint}: ").and_then(|()| output.flush()).map_err(tty_err)?;
        let first = read_hidden_line(input, keys);
        writeln!(output).map_err(tty_err)?;
        let first = first?;
        if first.is_empty() && allow_empty {
            return Ok(None);
        }
        let password = match parse(first) {
            Ok(p) => p,
            Err(e) => {
                writeln!(output, "{e}").map_err(tty_err)?;
                continue;
            }
        };
        write!(output, "Retype new {label}: ").and_then(|()| output.flush()).map_err(tty_err)?;
        let second = read_hidden_line(input, keys);
        writeln!(output).map_err(tty_err)?;
        if second? == expose(&password) {
            return Ok(Some(password));
        }
        writeln!(output, "The passwords do not match.").map_err(tty_err)?;
    }
    Err(CtlError::Failed(corenas_proto::WireError::invalid(
        "password",
        format!("no usable {label} after {ATTEMPTS} attempts; nothing was changed"),
    )))
}

/// The control characters the prompt interprets itself, taken from the terminal's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Keys {
    interrupt: u8,
    end_of_file: u8,
    erase: u8,
    kill: u8,
}

impl Default for Keys {
    fn default() -> Self {
        Self { interrupt: 0x03, end_of_file: 0x04, erase: 0x7f, kill: 0x15 }
    }
}

/// Reads one line byte by byte (the terminal is non-canonical), editing as a terminal would.
fn read_hidden_line(input: &mut impl Read, keys: Keys) -> Result<String, CtlError> {
    let mut line: Vec<u8> = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => {
                return Err(CtlError::usage("password", "the terminal closed while the password was typed"));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(CtlError::usage("password", format!("cannot read from the terminal: {e}")));
            }
        }
        match byte[0] {
            b'\n' | b'\r' => break,
            b if b == keys.interrupt || b == 0x03 => return Err(CtlError::Interrupted),
            b if b == keys.end_of_file && line.is_empty() => return Err(CtlError::Interrupted),
            // As in a canonical terminal, end-of-file in the middle of a line is not input.
            b if b == keys.end_of_file => {}
            b if b == keys.erase || b == 0x08 || b == 0x7f => {
                line.pop();
            }
            b if b == keys.kill => line.clear(),
            b if line.len() < LINE_CAP => line.push(b),
            _ => {}
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Echo, canonical mode and keyboard signals off until dropped.
struct QuietTerminal<'a> {
    tty: &'a File,
    saved: Termios,
    keys: Keys,
}

impl<'a> QuietTerminal<'a> {
    fn enter(tty: &'a File) -> io::Result<Self> {
        let saved = termios::tcgetattr(tty)?;
        let codes = &saved.special_codes;
        let keys = Keys {
            interrupt: codes[SpecialCodeIndex::VINTR],
            end_of_file: codes[SpecialCodeIndex::VEOF],
            erase: codes[SpecialCodeIndex::VERASE],
            kill: codes[SpecialCodeIndex::VKILL],
        };
        let mut quiet = saved.clone();
        quiet.local_modes.remove(
            LocalModes::ECHO
                | LocalModes::ECHOE
                | LocalModes::ECHOK
                | LocalModes::ECHONL
                | LocalModes::ICANON
                | LocalModes::ISIG,
        );
        quiet.special_codes[SpecialCodeIndex::VMIN] = 1;
        quiet.special_codes[SpecialCodeIndex::VTIME] = 0;
        // Flush: typeahead from before the prompt must not become part of the password.
        termios::tcsetattr(tty, OptionalActions::Flush, &quiet)?;
        Ok(Self { tty, saved, keys })
    }
}

impl Drop for QuietTerminal<'_> {
    fn drop(&mut self) {
        // Nothing more can be done if this fails; the shell's `reset` repairs the terminal.
        let _ = termios::tcsetattr(self.tty, OptionalActions::Now, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdin_line(bytes: &[u8]) -> Result<Password, CtlError> {
        read_line(bytes)
    }

    #[test]
    fn stdin_takes_the_first_line_without_its_newline() {
        assert_eq!(stdin_line(b"Correct-Horse-9\n").unwrap().expose(), "Correct-Horse-9");
        assert_eq!(stdin_line(b"Correct-Horse-9").unwrap().expose(), "Correct-Horse-9");
        assert_eq!(stdin_line(b"Correct-Horse-9\nsecond line\n").unwrap().expose(), "Correct-Horse-9");
        // Only one newline is stripped; leading and trailing spaces are part of the password.
        assert_eq!(stdin_line(b" Correct-Horse-9 \n").unwrap().expose(), " Correct-Horse-9 ");
    }

    #[test]
    fn stdin_refuses_what_the_policy_refuses() {
        let usage = |r: Result<Password, CtlError>| matches!(r, Err(CtlError::Usage(e)) if e.field.as_deref() == Some("password"));
        let refused = |r: Result<Password, CtlError>| matches!(r, Err(CtlError::Failed(e)) if e.field.as_deref() == Some("password"));
        assert!(usage(stdin_line(b"")));
        assert!(usage(stdin_line(&[b'A'; LINE_CAP + 10])));
        assert!(refused(stdin_line(b"\n")));
        assert!(refused(stdin_line(b"short\n")));
        assert!(refused(stdin_line(b"Correct\x00Horse-9\n")));
        assert!(refused(stdin_line(b"Correct-Horse-9\r\n")));
        assert!(refused(stdin_line(b"old\nCorrect-Horse-9\n")));
        assert!(refused(stdin_line(b"Correct-Horse-\xff9\n")));
    }

    #[test]
    fn the_hidden_line_is_edited_like_a_terminal_line() {
        let keys = Keys::default();
        let read = |bytes: &[u8]| read_hidden_line(&mut &bytes[..], keys);
        assert_eq!(read(b"abc\n").unwrap(), "abc");
        assert_eq!(read(b"abx\x7fc\r").unwrap(), "abc");
        assert_eq!(read(b"wrong\x15abc\n").unwrap(), "abc");
        assert!(matches!(read(b"ab\x03cd\n"), Err(CtlError::Interrupted)));
        assert!(matches!(read(b"\x04"), Err(CtlError::Interrupted)));
        assert!(matches!(read(b"abc"), Err(CtlError::Usage(_))));
    }

    #[test]
    fn the_dialogue_asks_twice_and_retries() {
        let run = |typed: &[u8], allow_empty: bool| {
            let mut shown = Vec::new();
            let r = dialogue(&mut &typed[..], &mut shown, "password for alice", allow_empty, Keys::default());
            (r, String::from_utf8(shown).unwrap())
        };
        let (r, shown) = run(b"Correct-Horse-9\nCorrect-Horse-9\n", false);
        assert_eq!(r.unwrap().unwrap().expose(), "Correct-Horse-9");
        assert!(!shown.contains("Correct-Horse-9"), "the password must not be written back: {shown}");
        assert!(shown.contains("New password for alice: ") && shown.contains("Retype new password for alice: "));

        let (r, shown) = run(b"short\nCorrect-Horse-9\nOther-Horse-99\nCorrect-Horse-9\nCorrect-Horse-9\n", false);
        assert_eq!(r.unwrap().unwrap().expose(), "Correct-Horse-9");
        assert!(shown.contains("not 12-128 characters long") && shown.contains("do not match"), "{shown}");

        let (r, _) = run(b"a\nb\nc\n", false);
        assert!(matches!(r, Err(CtlError::Failed(e)) if e.message.contains("after 3 attempts")));

        let (r, shown) = run(b"\n", true);
        assert!(r.unwrap().is_none());
        assert!(shown.contains("(empty for none)"));
        let (r, _) = run(b"\n\n\n", false);
        assert!(r.is_err());
    }
}
