//! Text from other peers, made safe to show: names, tags and messages can
//! carry control characters (escape sequences that rewrite the screen,
//! newlines that fake extra lines), so they are printed escaped.

/// `text` safe for a terminal: control characters are shown escaped
/// (`\u{1b}`, `\n`); everything else is kept as it is.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_text_cannot_drive_the_terminal() {
        assert_eq!(printable("hi there, ünïcode ok"), "hi there, ünïcode ok");
        assert_eq!(printable("\u{1b}[2Jgone\nline"), "\\u{1b}[2Jgone\\nline");
    }
}
