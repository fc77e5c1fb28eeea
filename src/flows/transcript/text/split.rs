//! Packing rendered message blocks into comment parts of bounded size.
//!
//! A block is one message: our markup (time stamp, author, file links) plus escaped text.
//! Blocks are kept whole when they fit; a block longer than a part is cut at a character
//! boundary — preferably at a line break or a space — but never inside our markup or inside
//! an escape pair (`[` + U+200B), and continued in the next part.

use std::ops::Range;

use crate::portal::ZWSP;

/// Prefix of a block continued from the previous part.
pub(crate) const CONTINUED: &str = "(продолжение) ";

/// One message rendered as comment text, with the byte ranges that must not be cut.
#[derive(Debug, Default)]
pub(crate) struct Block {
    text: String,
    atoms: Vec<Range<usize>>,
}

impl Block {
    /// Appends our own markup, which stays in one piece.
    pub(crate) fn push_atom(&mut self, markup: &str) {
        let start = self.text.len();
        self.text.push_str(markup);
        self.atoms.push(start..self.text.len());
    }

    /// Appends already escaped text, which may be cut between characters.
    pub(crate) fn push_text(&mut self, escaped: &str) {
        self.text.push_str(escaped);
    }

    /// The block's text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Whether the block may be cut at byte `pos`.
    fn can_cut(&self, pos: usize) -> bool {
        let t = &self.text;
        t.is_char_boundary(pos)
            && !self.atoms.iter().any(|a| a.start < pos && pos < a.end)
            && !(t[..pos].ends_with(['[', '<']) && t[pos..].starts_with(ZWSP))
    }

    /// Chooses where a piece starting at `start` ends, given at most `limit` bytes.
    fn cut_point(&self, start: usize, limit: usize) -> usize {
        let t = &self.text;
        let max = start + limit;
        if max >= t.len() {
            return t.len();
        }
        let window = &t[start..floor_boundary(t, max)];
        let preferred = [window.rfind('\n'), window.rfind(' ')];
        for found in preferred.into_iter().flatten() {
            let pos = start + found;
            if found > limit / 2 && self.can_cut(pos) {
                return pos;
            }
        }
        if let Some(pos) = (start + 1..=max).rev().find(|&p| self.can_cut(p)) {
            return pos;
        }
        // A single piece of our markup is longer than the limit: keep it whole.
        (max..t.len()).find(|&p| self.can_cut(p)).unwrap_or(t.len())
    }

    /// Cuts the block into pieces of at most `limit` bytes; every piece after the first starts
    /// with [`CONTINUED`] (counted in the limit).
    fn pieces(&self, limit: usize) -> Vec<String> {
        let t = &self.text;
        let mut out = Vec::new();
        let mut start = 0;
        while start < t.len() {
            let prefix = if out.is_empty() { "" } else { CONTINUED };
            let end = self.cut_point(start, limit.saturating_sub(prefix.len()).max(1));
            out.push(format!("{prefix}{}", t[start..end].trim_end()));
            start = end;
            while t[start..].starts_with([' ', '\n']) {
                start += 1;
            }
        }
        out
    }
}

/// Largest char boundary of `s` at or below `pos`.
fn floor_boundary(s: &str, mut pos: usize) -> usize {
    while !s.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

/// Packs blocks, in order, into part bodies of at most `budget` bytes each (blocks joined by
/// `\n`). A block that does not fit an empty part is cut into pieces.
pub(crate) fn pack(blocks: &[Block], budget: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    for block in blocks {
        let len = block.text().len();
        let needed = if current.is_empty() {
            len
        } else {
            current.len() + 1 + len
        };
        if needed <= budget {
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(block.text());
            continue;
        }
        if !current.is_empty() {
            parts.push(std::mem::take(&mut current));
        }
        if len <= budget {
            current.push_str(block.text());
            continue;
        }
        let mut pieces = block.pieces(budget);
        current = pieces.pop().unwrap_or_default();
        parts.extend(pieces);
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_block(s: &str) -> Block {
        let mut b = Block::default();
        b.push_atom("[b]10:00[/b] ");
        b.push_text(s);
        b
    }

    #[test]
    fn whole_blocks_fill_parts_in_order() {
        let blocks: Vec<Block> = (0..5).map(|i| text_block(&format!("m{i}"))).collect();
        let parts = pack(&blocks, 40);
        assert_eq!(
            parts,
            [
                "[b]10:00[/b] m0\n[b]10:00[/b] m1",
                "[b]10:00[/b] m2\n[b]10:00[/b] m3",
                "[b]10:00[/b] m4"
            ]
        );
    }

    #[test]
    fn long_block_is_cut_at_spaces_and_never_inside_markup_or_escapes() {
        let text = "[\u{200B}b] слово ".repeat(50);
        let parts = pack(&[text_block(&text)], 60);
        assert!(parts.len() > 5);
        for p in &parts {
            assert!(p.len() <= 60, "{p}");
            assert!(!p.ends_with('['), "{p}");
            assert!(!p.trim_start_matches(CONTINUED).starts_with(ZWSP), "{p}");
        }
        assert!(parts[0].starts_with("[b]10:00[/b] "));
        assert!(parts[1..].iter().all(|p| p.starts_with(CONTINUED)));
    }

    #[test]
    fn text_without_spaces_is_cut_at_char_boundaries() {
        let text = "ж".repeat(100);
        let parts = pack(&[text_block(&text)], 41);
        let joined: String = parts
            .iter()
            .map(|p| p.trim_start_matches(CONTINUED))
            .collect();
        assert_eq!(joined, format!("[b]10:00[/b] {text}"));
        assert!(parts.iter().all(|p| p.len() <= 41));
    }
}
