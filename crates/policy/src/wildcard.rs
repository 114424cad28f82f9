//! `*` / `?` wildcard matching and policy variable substitution.
//!
//! Request values (keys, User-Agent, Referer) come from anyone, so matching must stay cheap
//! whatever the pattern and text: a pattern is first turned into [`Token`]s, then matched by
//! the greedy two-pointer algorithm, which backtracks only to the last `*` it passed. That is
//! O(pattern x text) at worst and allocates nothing per step.

use crate::Context;

/// One element of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// `*`: any run of characters, also empty.
    Any,
    /// `?`: any one character.
    One,
    /// A character that matches only itself (a substituted `${*}` is one).
    Char(char),
}

/// A pattern written in a policy, with its wildcards.
fn tokens(pattern: &str) -> impl Iterator<Item = Token> + '_ {
    pattern.chars().map(|c| match c {
        '*' => Token::Any,
        '?' => Token::One,
        c => Token::Char(c),
    })
}

/// Whether `text` matches `pattern`, where `*` matches any run (also empty) and `?` any one
/// character.
pub fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    matches_tokens(&tokens(pattern).collect::<Vec<_>>(), text, ignore_case)
}

/// Whether `text` matches the tokens `p`.
pub fn matches_tokens(p: &[Token], text: &str, ignore_case: bool) -> bool {
    let eq = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    // `ti` and the star's text position are byte offsets into `text`, always on a char boundary.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while let Some(c) = text[ti..].chars().next() {
        match p.get(pi) {
            Some(Token::Any) => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some(Token::One) => {
                pi += 1;
                ti += c.len_utf8();
                continue;
            }
            Some(Token::Char(x)) if eq(*x, c) => {
                pi += 1;
                ti += c.len_utf8();
                continue;
            }
            _ => {}
        }
        // Mismatch: let the last star swallow one more character, or fail.
        let Some((sp, st)) = star else { return false };
        let skipped = text[st..].chars().next().map_or(1, char::len_utf8);
        star = Some((sp, st + skipped));
        pi = sp + 1;
        ti = st + skipped;
    }
    p[pi..].iter().all(|t| *t == Token::Any)
}

/// A policy value with its variables substituted: `${key}` becomes the context's value of
/// `key`, and `${*}`, `${?}`, `${$}` the literal characters; neither acts as a wildcard. A
/// variable whose key is absent (or multi-valued) makes the whole value unusable: `None`, which
/// matches nothing. A `${` without its `}` is taken as written.
pub fn substitute(value: &str, context: &Context) -> Option<Vec<Token>> {
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        out.extend(tokens(&rest[..start]));
        let name = &after[..end];
        match name {
            "*" | "?" | "$" => out.extend(name.chars().map(Token::Char)),
            _ => {
                let values = context.get(name)?;
                let [single] = values else { return None };
                out.extend(single.chars().map(Token::Char));
            }
        }
        rest = &after[end + 1..];
    }
    out.extend(tokens(rest));
    Some(out)
}

/// The substituted value as text, wildcards kept as written (for exact comparisons).
pub fn literal(p: &[Token]) -> String {
    p.iter()
        .map(|t| match t {
            Token::Any => '*',
            Token::One => '?',
            Token::Char(c) => *c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches_substituted(p: &[Token], text: &str) -> bool {
        matches_tokens(p, text, false)
    }

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
        assert!(matches("?ü?", "aüb", false));
        assert!(!matches("?", "", false));
        assert!(matches("*?", "ü", false));
        assert!(!matches("a", "ab", false));
        assert!(matches("a**b", "ab", false));
    }

    #[test]
    fn variables() {
        let mut cx = Context::new();
        cx.set("aws:username", "alice");
        let p = substitute("arn:aws:s3:::home/${aws:username}/*", &cx).unwrap();
        assert!(matches_substituted(&p, "arn:aws:s3:::home/alice/notes"));
        assert!(!matches_substituted(&p, "arn:aws:s3:::home/bob/notes"));
        assert!(substitute("home/${aws:userid}/*", &cx).is_none(), "absent key");
        // ${*} is a literal star, not a wildcard.
        let p = substitute("a${*}b", &cx).unwrap();
        assert!(matches_substituted(&p, "a*b"));
        assert!(!matches_substituted(&p, "axb"));
        // A value with a star does not become a wildcard.
        cx.set("aws:username", "*");
        let p = substitute("home/${aws:username}", &cx).unwrap();
        assert!(!matches_substituted(&p, "home/bob"));
        assert!(matches_substituted(&p, "home/*"));
        assert_eq!(literal(&substitute("a${?}*${x", &cx).unwrap()), "a?*${x");
    }

    /// The pattern of the adversarial review: before, literal pieces were matched by trying
    /// every split point (exponential in the number of pieces); a key of 800 stars took 34 s.
    #[test]
    fn adversarial_patterns_stay_cheap() {
        let cx = Context::new();
        let p = substitute("arn:aws:s3:::bucket/*${*}*${*}*${?}", &cx).unwrap();
        let key = format!("arn:aws:s3:::bucket/{}", "*".repeat(4000));
        let started = std::time::Instant::now();
        assert!(!matches_substituted(&p, &key));
        let near = format!("arn:aws:s3:::bucket/{}*?", "*".repeat(4000));
        assert!(matches_substituted(&p, &near));
        let many = format!("{}b", "a*".repeat(2000));
        assert!(!matches(&many, &"a".repeat(8000), false));
        // Generous for a debug build on a busy machine; the release build takes microseconds.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    /// Against a plain recursive definition of matching, on every pattern and text over a
    /// small alphabet.
    #[test]
    fn agrees_with_the_definition() {
        fn reference(p: &[Token], t: &[char]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some((Token::Any, rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
                Some((Token::One, rest)) => !t.is_empty() && reference(rest, &t[1..]),
                Some((Token::Char(c), rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
            }
        }
        let alphabet = ['a', 'b', '*', '?'];
        let words = |max: usize| {
            let mut all = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..max {
                last = last
                    .iter()
                    .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                    .collect();
                all.extend(last.iter().cloned());
            }
            all
        };
        // Texts hold `*` and `?` too: there they are plain characters.
        let texts = words(4);
        for pattern in words(5) {
            let p: Vec<Token> = tokens(&pattern).collect();
            for text in &texts {
                let chars: Vec<char> = text.chars().collect();
                assert_eq!(
                    matches_tokens(&p, text, false),
                    reference(&p, &chars),
                    "{pattern} {text}"
                );
            }
        }
    }
}
