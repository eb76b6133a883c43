//! Line-level preprocessing and tokenising, following keepalived 2.2.7:
//! comments (`!`, `#`), `include` (with globs and `{a,b}` braces, relative to
//! the including file's directory), `@id` / `@^id` conditional lines,
//! `$NAME=value` parameters (incl. multi-line ones) and `$NAME` / `${NAME}`
//! substitution, quoted strings, and `{` / `}` as separate tokens even when
//! glued to words.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Diagnostic, LoadOptions, Severity};

/// Maximum include nesting; deeper is treated as an include loop (Fatal).
pub(crate) const MAX_INCLUDE_DEPTH: usize = 32;
/// Maximum nesting of multi-line parameter expansion.
const MAX_EXPANSION_DEPTH: usize = 16;
/// Cap on substitutions in one line (guards against `$A=$A` style loops).
const MAX_SUBSTITUTIONS: usize = 1000;
/// Cap on the length of a line after substitution.
const MAX_EXPANDED_LEN: usize = 1 << 20;
/// Cap on the lines one line of the file expands to through multi-line parameters. The depth
/// cap alone bounds nesting, not breadth: a multi-line parameter naming itself twice doubles at
/// every level (2^16 lines; found by the `config` fuzz target, which timed out on it).
const MAX_EXPANDED_LINES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokKind {
    Word(String),
    Open,
    Close,
    /// End of a (logical) line: keepalived keywords take the rest of their line.
    Eol,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tok {
    pub kind: TokKind,
    /// Index into `Lexed::files`.
    pub file: usize,
    pub line: usize,
}

pub(crate) struct Lexed {
    pub toks: Vec<Tok>,
    pub files: Vec<PathBuf>,
    pub diags: Vec<Diagnostic>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum IncludeKind {
    /// `include`: a pattern that matches nothing is an error.
    Plain,
    /// `includer`: only readability is checked; no match is fine.
    Readable,
}

struct Lexer<'a> {
    opts: &'a LoadOptions,
    files: Vec<PathBuf>,
    toks: Vec<Tok>,
    diags: Vec<Diagnostic>,
    /// Parameter values, one entry per line (multi-line definitions have several).
    params: HashMap<String, Vec<String>>,
    fatal: bool,
    /// Lines the current line of the file has expanded to so far (`MAX_EXPANDED_LINES`).
    expanded_lines: usize,
}

/// Lex the top-level text `text`, read from `file` whose includes resolve against `dir`.
pub(crate) fn lex(text: &str, file: PathBuf, dir: PathBuf, opts: &LoadOptions) -> Lexed {
    let mut lx = Lexer {
        opts,
        files: Vec::new(),
        toks: Vec::new(),
        diags: Vec::new(),
        params: HashMap::new(),
        fatal: false,
        expanded_lines: 0,
    };
    lx.lex_file(text, file, dir, 0);
    Lexed {
        toks: lx.toks,
        files: lx.files,
        diags: lx.diags,
    }
}

impl Lexer<'_> {
    fn diag(&mut self, file: usize, line: usize, severity: Severity, message: String) {
        let file = self.files.get(file).cloned().unwrap_or_default();
        self.diags.push(Diagnostic {
            file,
            line,
            severity,
            message,
        });
    }

    fn lex_file(&mut self, text: &str, path: PathBuf, dir: PathBuf, depth: usize) {
        let file = self.files.len();
        self.files.push(path);
        // A multi-line definition in progress: (name, lines so far).
        let mut pending: Option<(String, Vec<String>)> = None;

        for (i, raw) in text.split('\n').enumerate() {
            if self.fatal {
                return;
            }
            let line_no = i + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let code = strip_comment(raw);

            // Continuation of a multi-line `$NAME= \` definition.
            if let Some((name, mut lines)) = pending.take() {
                let t = code.trim();
                if let Some(body) = t.strip_suffix('\\') {
                    lines.push(body.trim_end().to_string());
                    pending = Some((name, lines));
                } else {
                    lines.push(t.to_string());
                    self.params.insert(name, lines);
                }
                continue;
            }

            let trimmed = code.trim();
            if trimmed.is_empty() {
                continue;
            }

            // `include` is recognised before conditionals and substitution (as keepalived does).
            let (first, rest) = split_first_word(trimmed);
            let include_kind = match first {
                "include" | "includem" | "includew" | "includeb" | "includea" => {
                    Some(IncludeKind::Plain)
                }
                "includer" => Some(IncludeKind::Readable),
                _ => None,
            };
            if let Some(kind) = include_kind {
                self.include(rest.trim(), kind, &dir, file, line_no, depth);
                continue;
            }

            // Start of a definition? (possibly behind a conditional)
            let Some(after_cond) = self.conditional(trimmed) else {
                continue;
            };
            if let Some((name, value)) = parse_definition(after_cond) {
                let v = value.trim();
                if let Some(body) = v.strip_suffix('\\') {
                    let body = body.trim_end();
                    let lines = if body.is_empty() {
                        Vec::new()
                    } else {
                        vec![body.to_string()]
                    };
                    pending = Some((name, lines));
                } else {
                    self.params.insert(name, vec![v.to_string()]);
                }
                continue;
            }

            self.logical_line(after_cond, &dir, file, line_no, 0);
        }
        if let Some((name, lines)) = pending {
            self.diag(
                file,
                text.split('\n').count(),
                Severity::Warning,
                format!("multi-line definition of ${name} runs to the end of the file"),
            );
            self.params.insert(name, lines);
        }
    }

    /// Handle one line after conditional selection: definitions, `~SEQ`/`~LST`,
    /// substitution (which may produce several lines) and tokenising.
    fn logical_line(&mut self, line: &str, dir: &Path, file: usize, line_no: usize, depth: usize) {
        let mut line = line.trim();
        if depth == 0 {
            self.expanded_lines = 0;
        }
        if line.is_empty() {
            return;
        }
        if depth > 0 {
            self.expanded_lines = self.expanded_lines.saturating_add(1);
            if self.expanded_lines > MAX_EXPANDED_LINES {
                if self.expanded_lines == MAX_EXPANDED_LINES + 1 {
                    self.diag(
                        file,
                        line_no,
                        Severity::Error,
                        format!("multi-line parameters expand to more than {MAX_EXPANDED_LINES} lines (recursive definition?), the rest ignored"),
                    );
                }
                return;
            }
            // Lines coming out of a multi-line parameter get the full treatment.
            let Some(l) = self.conditional(line) else {
                return;
            };
            if let Some((name, value)) = parse_definition(l) {
                self.params.insert(name, vec![value.trim().to_string()]);
                return;
            }
            line = l;
        }
        if line.starts_with("~SEQ") || line.starts_with("~LST") {
            self.diag(
                file,
                line_no,
                Severity::Warning,
                "~SEQ/~LST sequence lines are not implemented, line ignored".to_string(),
            );
            return;
        }
        let expanded = match self.substitute(line, dir, file, line_no) {
            Some(e) => e,
            None => return,
        };
        if expanded.contains('\n') {
            if depth >= MAX_EXPANSION_DEPTH {
                self.diag(
                    file,
                    line_no,
                    Severity::Error,
                    "multi-line parameters nested too deeply, line ignored".to_string(),
                );
                // And the rest of this line's expansion: a definition that names itself would
                // otherwise hit the depth cap once per branch.
                self.expanded_lines = usize::MAX;
                return;
            }
            for piece in expanded.split('\n') {
                self.logical_line(piece, dir, file, line_no, depth + 1);
            }
            return;
        }
        // `$IF_MAIN=@main` then `$IF_MAIN priority 240`: conditional after substitution.
        let Some(sel) = self.conditional(expanded.trim()) else {
            return;
        };
        let sel = sel.to_string();
        self.tokenize(&sel, file, line_no);
    }

    /// Apply an `@id` / `@^id` prefix. Returns the rest of the line if it is
    /// selected, `None` if the line is to be skipped.
    fn conditional<'l>(&self, line: &'l str) -> Option<&'l str> {
        let Some(body) = line.strip_prefix('@') else {
            return Some(line);
        };
        let (neg, body) = match body.strip_prefix('^') {
            Some(b) => (true, b),
            None => (false, body),
        };
        let (id, rest) = split_first_word(body);
        let matches = self.opts.config_id.as_deref() == Some(id);
        if matches != neg { Some(rest.trim_start()) } else { None }
    }

    /// Replace `$NAME` (followed by whitespace / end) and `${NAME}`. Single-line
    /// values are substituted recursively; multi-line values are inserted as
    /// raw lines separated by '\n' (each is processed when it is read).
    fn substitute(&mut self, line: &str, dir: &Path, file: usize, line_no: usize) -> Option<String> {
        if !line.contains('$') {
            return Some(line.to_string());
        }
        let mut out = String::new();
        let mut rest: String = line.to_string();
        let mut count = 0usize;
        loop {
            let Some(pos) = rest.find('$') else {
                out.push_str(&rest);
                break;
            };
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            let (name, consumed) = if let Some(inner) = after.strip_prefix('{') {
                match inner.find('}') {
                    Some(end) => (inner[..end].to_string(), end + 2),
                    None => (String::new(), 0),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                let next = after[end..].chars().next();
                if next.is_none_or(char::is_whitespace) {
                    (after[..end].to_string(), end)
                } else {
                    (String::new(), 0)
                }
            };
            let value = if consumed > 0 && is_param_name(name.split(' ').next().unwrap_or("")) {
                self.lookup(&name, dir)
            } else {
                None
            };
            match value {
                None => {
                    out.push('$');
                    rest = after.to_string();
                }
                Some(lines) => {
                    count += 1;
                    if count > MAX_SUBSTITUTIONS || out.len() + rest.len() > MAX_EXPANDED_LEN {
                        self.diag(
                            file,
                            line_no,
                            Severity::Error,
                            "parameter substitution does not terminate (recursive definition?), line ignored"
                                .to_string(),
                        );
                        return None;
                    }
                    let tail = &after[consumed..];
                    if lines.len() == 1 {
                        // Rescan: values may themselves contain parameters.
                        rest = format!("{}{}", lines[0], tail);
                    } else {
                        out.push_str(&lines.join("\n"));
                        rest = tail.to_string();
                    }
                }
            }
        }
        Some(out)
    }

    fn lookup(&mut self, name: &str, dir: &Path) -> Option<Vec<String>> {
        match name {
            "_PWD" => {
                let abs = std::path::absolute(if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                })
                .unwrap_or_else(|_| dir.to_path_buf());
                return Some(vec![abs.display().to_string()]);
            }
            "_INSTANCE" => return Some(vec![self.opts.config_id.clone().unwrap_or_default()]),
            "_HASH" => return Some(vec!["#".to_string()]),
            "_BANG" => return Some(vec!["!".to_string()]),
            _ => {}
        }
        if name == "_RANDOM" || name.starts_with("_RANDOM ") {
            // Gap: deterministic, the lower bound of the range.
            let min = name.split_whitespace().nth(1).unwrap_or("0");
            return Some(vec![min.to_string()]);
        }
        self.params.get(name).cloned()
    }

    fn include(
        &mut self,
        spec: &str,
        kind: IncludeKind,
        dir: &Path,
        file: usize,
        line_no: usize,
        depth: usize,
    ) {
        let spec = unquote(spec);
        if spec.is_empty() {
            self.diag(file, line_no, Severity::Error, "include without a file name".to_string());
            return;
        }
        let mut matched: Vec<PathBuf> = Vec::new();
        for pat in expand_braces(&spec) {
            let full = if Path::new(&pat).is_absolute() {
                PathBuf::from(&pat)
            } else {
                dir.join(&pat)
            };
            let full_s = full.to_string_lossy().into_owned();
            match glob::glob(&full_s) {
                Ok(paths) => {
                    for p in paths.flatten() {
                        if !matched.contains(&p) {
                            matched.push(p);
                        }
                    }
                }
                Err(e) => {
                    self.diag(
                        file,
                        line_no,
                        Severity::Error,
                        format!("include '{spec}': bad pattern: {e}"),
                    );
                    return;
                }
            }
        }
        if matched.is_empty() {
            let wildcard = spec.contains(['*', '?', '[']);
            if kind == IncludeKind::Plain || !wildcard {
                self.diag(
                    file,
                    line_no,
                    Severity::Error,
                    format!("include '{spec}': no such file (looked in '{}')", display_dir(dir)),
                );
            }
            return;
        }
        for p in matched {
            if self.fatal {
                return;
            }
            if p.is_dir() {
                self.diag(
                    file,
                    line_no,
                    Severity::Warning,
                    format!("include '{spec}': {} is a directory, skipped", p.display()),
                );
                continue;
            }
            if depth + 1 > MAX_INCLUDE_DEPTH {
                self.diag(
                    file,
                    line_no,
                    Severity::Fatal,
                    format!(
                        "include of {} nested more than {MAX_INCLUDE_DEPTH} deep (include loop?)",
                        p.display()
                    ),
                );
                self.fatal = true;
                return;
            }
            match std::fs::read(&p) {
                Ok(bytes) => match super::decode_text(&bytes) {
                    Ok(text) => {
                        let sub_dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
                        self.lex_file(&text, p, sub_dir, depth + 1);
                    }
                    Err((line, what)) => {
                        self.diag(file, line_no, Severity::Fatal, format!("include '{spec}': {}:{line}: {what}", p.display()));
                        self.fatal = true;
                        return;
                    }
                },
                Err(e) => self.diag(
                    file,
                    line_no,
                    Severity::Error,
                    format!("include '{spec}': cannot read {}: {e}", p.display()),
                ),
            }
        }
    }

    /// Split a fully processed line into tokens.
    fn tokenize(&mut self, line: &str, file: usize, line_no: usize) {
        let mut word = String::new();
        let mut in_word = false;
        let mut chars = line.chars().peekable();
        let mut unterminated = false;
        while let Some(c) = chars.next() {
            match c {
                c if c.is_whitespace() => {
                    self.flush_word(&mut word, &mut in_word, file, line_no);
                }
                '{' | '}' => {
                    self.flush_word(&mut word, &mut in_word, file, line_no);
                    let kind = if c == '{' { TokKind::Open } else { TokKind::Close };
                    self.toks.push(Tok {
                        kind,
                        file,
                        line: line_no,
                    });
                }
                '"' | '\'' => {
                    in_word = true;
                    let mut closed = false;
                    while let Some(q) = chars.next() {
                        if q == c {
                            closed = true;
                            break;
                        }
                        if q == '\\' {
                            read_escape(&mut chars, &mut word);
                        } else {
                            word.push(q);
                        }
                    }
                    if !closed {
                        unterminated = true;
                    }
                }
                _ => {
                    in_word = true;
                    word.push(c);
                }
            }
        }
        self.flush_word(&mut word, &mut in_word, file, line_no);
        self.toks.push(Tok {
            kind: TokKind::Eol,
            file,
            line: line_no,
        });
        if unterminated {
            self.diag(
                file,
                line_no,
                Severity::Warning,
                "unterminated quoted string (taken to the end of the line)".to_string(),
            );
        }
    }

    fn flush_word(&mut self, word: &mut String, in_word: &mut bool, file: usize, line_no: usize) {
        if *in_word {
            self.toks.push(Tok {
                kind: TokKind::Word(std::mem::take(word)),
                file,
                line: line_no,
            });
            *in_word = false;
        }
    }
}

fn display_dir(dir: &Path) -> String {
    if dir.as_os_str().is_empty() {
        ".".to_string()
    } else {
        dir.display().to_string()
    }
}

/// Handle a backslash escape inside a quoted string (the backslash is consumed).
fn read_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String) {
    let Some(c) = chars.next() else {
        out.push('\\');
        return;
    };
    match c {
        'a' => out.push('\x07'),
        'b' => out.push('\x08'),
        'E' => out.push('\x1b'),
        'f' => out.push('\x0c'),
        'n' => out.push('\n'),
        'r' => out.push('\r'),
        't' => out.push('\t'),
        'v' => out.push('\x0b'),
        '0'..='7' => {
            let mut v = c.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                match chars.peek().and_then(|d| d.to_digit(8)) {
                    Some(d) => {
                        v = v * 8 + d;
                        chars.next();
                    }
                    None => break,
                }
            }
            out.push(char::from_u32(v).unwrap_or('?'));
        }
        'x' => {
            let mut v: u32 = 0;
            let mut n = 0;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(16)) {
                v = v.wrapping_mul(16).wrapping_add(d) & 0xff;
                chars.next();
                n += 1;
            }
            if n == 0 {
                out.push('x');
            } else {
                out.push(char::from_u32(v).unwrap_or('?'));
            }
        }
        'c' => match chars.next() {
            Some(k) => out.push(char::from_u32((k.to_ascii_uppercase() as u32) ^ 0x40).unwrap_or('?')),
            None => out.push('c'),
        },
        other => out.push(other),
    }
}

/// Remove an unquoted `!` or `#` comment (quote-aware, CR already removed).
pub(crate) fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '!' | '#' => return &line[..i],
            _ => {}
        }
    }
    line
}

fn split_first_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

fn is_param_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `$NAME=value` (no space before '='). Returns (NAME, value).
fn parse_definition(line: &str) -> Option<(String, &str)> {
    let body = line.strip_prefix('$')?;
    let eq = body.find('=')?;
    let name = &body[..eq];
    if !is_param_name(name) {
        return None;
    }
    Some((name.to_string(), &body[eq + 1..]))
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return s[1..s.len() - 1].to_string();
        }
    }
    s.to_string()
}

/// csh-style brace expansion: `a{b,c{d,e}}f` -> abf, acdf, acef. Unbalanced
/// braces are left as they are. The result is capped to avoid blow-ups.
pub(crate) fn expand_braces(s: &str) -> Vec<String> {
    const MAX: usize = 4096;
    let bytes = s.as_bytes();
    // Find the first '{' with a matching '}' and at least one top-level ','.
    let mut start = None;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            let mut depth = 0usize;
            let mut commas = Vec::new();
            let mut end = None;
            for (j, &b) in bytes.iter().enumerate().skip(i) {
                match b {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(j);
                            break;
                        }
                    }
                    b',' if depth == 1 => commas.push(j),
                    _ => {}
                }
            }
            if let Some(end) = end
                && !commas.is_empty()
            {
                start = Some((i, end, commas));
                break;
            }
        }
        i += 1;
    }
    let Some((open, close, commas)) = start else {
        return vec![s.to_string()];
    };
    let prefix = &s[..open];
    let suffix = &s[close + 1..];
    let mut bounds = vec![open];
    bounds.extend(commas);
    bounds.push(close);
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let alt = &s[w[0] + 1..w[1]];
        for e in expand_braces(&format!("{prefix}{alt}{suffix}")) {
            if out.len() >= MAX {
                return out;
            }
            out.push(e);
        }
    }
    out
}
