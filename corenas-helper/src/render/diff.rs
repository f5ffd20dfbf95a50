//! A small line diff for dry runs: the common head and tail are skipped and the changed middle is
//! shown as removed (`-`) and added (`+`) lines, with a little context. Share and unit changes
//! are local, so this reads like `diff -u` without an LCS over thousands of lines.

const CONTEXT: usize = 2;
/// Longer changes are cut (the full file is in the plan's target after the change).
const MAX_LINES: usize = 400;

pub fn unified(path: &str, old: Option<&str>, new: &str) -> String {
    let old_text = old.unwrap_or("");
    if old == Some(new) {
        return String::new();
    }
    let a: Vec<&str> = old_text.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..].iter().rev().zip(b[head..].iter().rev()).take_while(|(x, y)| x == y).count();
    let from = head.saturating_sub(CONTEXT);
    let a_end = a.len() - tail;
    let b_end = b.len() - tail;
    let a_ctx_end = (a_end + CONTEXT).min(a.len());
    let mut out = format!(
        "--- {}\n+++ {path}\n@@ -{},{} +{},{} @@\n",
        if old.is_some() { path } else { "/dev/null" },
        from + 1,
        a_ctx_end - from,
        from + 1,
        (b_end + CONTEXT).min(b.len()) - from
    );
    let mut lines = 0usize;
    let mut push = |out: &mut String, prefix: char, l: &str| {
        lines += 1;
        if lines <= MAX_LINES {
            out.push(prefix);
            out.push_str(l);
            out.push('\n');
        } else if lines == MAX_LINES + 1 {
            out.push_str("… (diff cut)\n");
        }
    };
    for l in &a[from..head] {
        push(&mut out, ' ', l);
    }
    for l in &a[head..a_end] {
        push(&mut out, '-', l);
    }
    for l in &b[head..b_end] {
        push(&mut out, '+', l);
    }
    for l in &a[a_end..a_ctx_end] {
        push(&mut out, ' ', l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_only_the_changed_middle() {
        let old = "a\nb\nc\nd\ne\nf\n";
        let new = "a\nb\nc\nX\ne\nf\n";
        let d = unified("/f", Some(old), new);
        assert_eq!(d, "--- /f\n+++ /f\n@@ -2,5 +2,5 @@\n b\n c\n-d\n+X\n e\n f\n");
        assert_eq!(unified("/f", Some(old), old), "");
        assert!(unified("/f", None, "x\n").starts_with("--- /dev/null\n+++ /f\n"));
    }
}
