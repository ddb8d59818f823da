//! "Did you mean …?" for names a person types: `--algo PPO`, `--env cartpole`.

/// The choice `input` most likely meant: the same ignoring case, `-`, `_` and a `-vN` suffix
/// (`cartpole` → `CartPole-v1`), else the one choice within a small edit distance.
pub fn did_you_mean<'a>(input: &str, choices: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| -> String {
        let lower = s.to_ascii_lowercase();
        let base = match lower.rfind("-v") {
            Some(i)
                if lower[i + 2..].chars().all(|c| c.is_ascii_digit()) && i + 2 < lower.len() =>
            {
                &lower[..i]
            }
            _ => lower.as_str(),
        };
        base.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
    };
    let want = norm(input);
    let same: Vec<&str> = choices
        .iter()
        .copied()
        .filter(|c| norm(c) == want)
        .collect();
    if let Some(first) = same.first() {
        // `frozenlake` names FrozenLake-v1 before FrozenLake8x8-v1; an exact case-insensitive
        // match wins among several.
        return same
            .iter()
            .copied()
            .find(|c| c.eq_ignore_ascii_case(input))
            .or(Some(first));
    }
    let close: Vec<(usize, &str)> = choices
        .iter()
        .map(|c| (distance(&want, &norm(c)), *c))
        .filter(|(d, _)| *d <= 2 && *d < want.len())
        .collect();
    let best = close.iter().map(|(d, _)| *d).min()?;
    let mut at_best = close.iter().filter(|(d, _)| *d == best);
    let one = at_best.next()?.1;
    at_best.next().is_none().then_some(one)
}

/// The hint appended to an unknown name's error: ` (did you mean `X`?)`, or nothing.
pub fn hint(input: &str, choices: &[&str]) -> String {
    did_you_mean(input, choices)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let algos = ["qlearning", "dqn", "ppo", "sac", "td3"];
        assert_eq!(did_you_mean("PPO", &algos), Some("ppo"));
        assert_eq!(did_you_mean("dqnn", &algos), Some("dqn"));
        assert_eq!(did_you_mean("zzzzzz", &algos), None);
        let envs = [
            "CartPole-v1",
            "FrozenLake-v1",
            "FrozenLake8x8-v1",
            "Pendulum-v1",
        ];
        assert_eq!(did_you_mean("cartpole", &envs), Some("CartPole-v1"));
        assert_eq!(did_you_mean("CartPol-v1", &envs), Some("CartPole-v1"));
        assert_eq!(did_you_mean("frozenlake", &envs), Some("FrozenLake-v1"));
        assert_eq!(did_you_mean("pendulum-v0", &envs), Some("Pendulum-v1"));
    }
}
