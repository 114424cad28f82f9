//! `*` / `?` wildcard matching and policy variable substitution.

use crate::Context;

/// Whether `text` matches `pattern`, where `*` matches any run (also empty) and `?` any one
/// character. Linear in practice: the classic two-pointer match with one backtrack point.
pub fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Splits a policy value into written pieces (where wildcards act) and substituted ones:
/// `${key}` becomes the context's value of `key`, and `${*}`, `${?}`, `${$}` the literal
/// characters; neither acts as a wildcard. A variable whose key is absent (or multi-valued)
/// makes the whole value unusable: `None`, which matches nothing.
pub fn substitute(value: &str, context: &Context) -> Option<Vec<Piece>> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push(Piece::Pattern(rest[..start].to_owned()));
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        let name = &after[..end];
        match name {
            "*" | "?" | "$" => out.push(Piece::Literal(name.to_owned())),
            _ => {
                let values = context.get(name)?;
                let [single] = values else { return None };
                out.push(Piece::Literal(single.clone()));
            }
        }
        rest = &after[end + 1..];
    }
    out.push(Piece::Pattern(rest.to_owned()));
    Some(out)
}

/// A run of a substituted value: wildcards act in patterns, not in literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Pattern(String),
    Literal(String),
}

/// [`matches`] over a substituted value: literal pieces match only themselves.
pub fn matches_substituted(pieces: &[Piece], text: &str, ignore_case: bool) -> bool {
    fn go(pieces: &[Piece], text: &str, ignore_case: bool) -> bool {
        let Some((first, rest)) = pieces.split_first() else {
            return text.is_empty();
        };
        match first {
            Piece::Literal(lit) => {
                let n = lit.len();
                let prefix_ok = text.len() >= n
                    && text.is_char_boundary(n)
                    && if ignore_case {
                        text[..n].eq_ignore_ascii_case(lit)
                    } else {
                        &text[..n] == lit
                    };
                prefix_ok && go(rest, &text[n..], ignore_case)
            }
            Piece::Pattern(p) if rest.is_empty() => matches(p, text, ignore_case),
            Piece::Pattern(p) => {
                // Try every split point; patterns are short, so this stays cheap.
                text.char_indices()
                    .map(|(i, _)| i)
                    .chain(std::iter::once(text.len()))
                    .any(|i| matches(p, &text[..i], ignore_case) && go(rest, &text[i..], ignore_case))
            }
        }
    }
    go(pieces, text, ignore_case)
}

/// The value with variables substituted, wildcards kept as written (for exact comparisons).
pub fn literal(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Pattern(s) | Piece::Literal(s) => s.as_str(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", "", false));
        assert!(matches("s3:Get*", "s3:GetObject", false));
        assert!(matches("s3:get*", "s3:GetObject", true));
        assert!(!matches("s3:get*", "s3:GetObject", false));
        assert!(matches("arn:aws:s3:::b/*/x?z", "arn:aws:s3:::b/a/b/xyz", false));
        assert!(!matches("arn:aws:s3:::b/*/x?z", "arn:aws:s3:::b/a/b/xz", false));
        assert!(matches("a*b*c", "aXXbYYbZc", false));
        assert!(!matches("a*b*c", "aXXbYYbZ", false));
        assert!(matches("ünï*", "ünïcødé", false));
    }

    #[test]
    fn variables() {
        let mut cx = Context::new();
        cx.set("aws:username", "alice");
        let p = substitute("arn:aws:s3:::home/${aws:username}/*", &cx).unwrap();
        assert!(matches_substituted(&p, "arn:aws:s3:::home/alice/notes", false));
        assert!(!matches_substituted(&p, "arn:aws:s3:::home/bob/notes", false));
        assert!(substitute("home/${aws:userid}/*", &cx).is_none(), "absent key");
        // ${*} is a literal star, not a wildcard.
        let p = substitute("a${*}b", &cx).unwrap();
        assert!(matches_substituted(&p, "a*b", false));
        assert!(!matches_substituted(&p, "axb", false));
        // A value with a star does not become a wildcard.
        cx.set("aws:username", "*");
        let p = substitute("home/${aws:username}", &cx).unwrap();
        assert!(!matches_substituted(&p, "home/bob", false));
        assert!(matches_substituted(&p, "home/*", false));
    }
}
