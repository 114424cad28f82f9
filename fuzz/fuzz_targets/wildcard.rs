//! Wildcard matching: agrees with a plain recursive definition on short inputs, and stays
//! cheap on long ones (libFuzzer's -timeout catches a slow input).
#![no_main]

fn reference(p: &[char], t: &[char]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some(('*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
        Some(('?', rest)) => !t.is_empty() && reference(rest, &t[1..]),
        Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (pattern, subject) = text.split_once('\n').unwrap_or((text, ""));
    let got = osg_policy::wildcard_matches(pattern, subject);
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), subject.chars().collect());
    // The reference is exponential in stars: only short inputs.
    if p.len() <= 12 && t.len() <= 12 {
        assert_eq!(got, reference(&p, &t), "{pattern:?} {subject:?}");
    }
});
