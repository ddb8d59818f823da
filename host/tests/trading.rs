//! `Trading-v0` on a tiny committed CSV (`tests/fixtures/prices.csv`), rewards worked by hand.
//!
//! The series, periods 0..=9: 100, 102, 101, 103, 104, 100, 100, 110, 99, 108.9.
//! With the default window (6) an episode starts at period 6 (price 100) and runs three steps,
//! to period 9, where it terminates.

use std::collections::BTreeMap;
use std::path::PathBuf;

use picorl_core::env::{Action, Env, EnvError, Space};
use picorl_host::envs;
use picorl_host::trading::{self, Trading, TradingError};

const CSV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/prices.csv");
const PRICES: [f64; 10] = [
    100.0, 102.0, 101.0, 103.0, 104.0, 100.0, 100.0, 110.0, 99.0, 108.9,
];
const BUY: Action<'static> = Action::Discrete(0);
const HOLD: Action<'static> = Action::Discrete(1);
const SELL: Action<'static> = Action::Discrete(2);

fn kwargs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// `z_k` straight from the definition: `ln(p_k/p_{k-1})` over the root mean square of
/// `r_1..=r_k`.
fn z(k: usize) -> f32 {
    let r = |j: usize| (PRICES[j] / PRICES[j - 1]).ln();
    let ms = (1..=k).map(|j| r(j) * r(j)).sum::<f64>() / k as f64;
    (r(k) / ms.sqrt()) as f32
}

#[test]
fn reads_the_csv_close_column() {
    let env = Trading::from_kwargs(&kwargs(&[("csv", CSV)])).unwrap();
    assert_eq!(env.prices(), PRICES);
}

#[test]
fn buy_hold_sell_by_hand() {
    let mut env = envs::make("Trading-v0", &kwargs(&[("csv", CSV), ("cost", "0.001")])).unwrap();
    assert_eq!(env.spec().observation_space.flat_dim(), 8);
    assert_eq!(env.spec().action_space, Space::Discrete { n: 3 });
    let mut obs = [0.0f32; 8];
    env.reset(Some(0), &mut obs).unwrap();
    // Returns of periods 1..=6, then flat (position 0) with all cash (cash fraction 1).
    let want: Vec<f32> = (1..=6).map(z).collect();
    assert_eq!(&obs[..6], want.as_slice());
    assert_eq!(&obs[6..], [0.0, 1.0]);

    // Step 1, Buy at period 6 (price 100): 1 · (1 - 0.001) / 100 = 0.00999 shares, cash 0.
    // Period 7 (price 110): value 0.00999 · 110 = 1.0989; reward 1.0989 - 1 = 0.0989.
    let r = env.step(BUY, &mut obs).unwrap();
    assert!(close(r.reward, 0.0989), "{r:?}");
    assert!(!r.terminated && !r.truncated);
    let want: Vec<f32> = (2..=7).map(z).collect();
    assert_eq!(&obs[..6], want.as_slice());
    assert_eq!(&obs[6..], [1.0, 0.0]);

    // Step 2, Hold at period 7: to period 8 (price 99), value 0.00999 · 99 = 0.98901;
    // reward 0.98901 - 1.0989 = -0.10989.
    let r = env.step(HOLD, &mut obs).unwrap();
    assert!(close(r.reward, -0.10989), "{r:?}");
    assert!(!r.done());

    // Step 3, Sell at period 8 (price 99): cash 0.98901 · 0.999 = 0.98802099, no shares.
    // Period 9 is the last: value 0.98802099 whatever the price; reward -0.00098901, the cost.
    let r = env.step(SELL, &mut obs).unwrap();
    assert!(close(r.reward, -0.00098901), "{r:?}");
    assert!(
        r.terminated && !r.truncated,
        "one pass over the series: terminated"
    );
    assert_eq!(&obs[6..], [0.0, 1.0]);
    assert_eq!(env.step(HOLD, &mut obs), Err(EnvError::NeedsReset));

    // The episode's return is the profit on a capital of 1: 0.98802099 - 1.
    let mut state = [0.0; 3];
    env.get_state(&mut state).unwrap();
    assert!(close(state[1] - 1.0, 0.0989 - 0.10989 - 0.00098901));
    assert_eq!((state[0], state[2]), (9.0, 0.0));

    // A reset starts the same pass again, whatever the seed.
    let mut again = [0.0f32; 8];
    env.reset(Some(42), &mut again).unwrap();
    let want: Vec<f32> = (1..=6).map(z).collect();
    assert_eq!(&again[..6], want.as_slice());
}

#[test]
fn repeated_orders_cost_nothing_and_a_smaller_window_shrinks_the_obs() {
    // window 2: periods 2..=9, seven steps.
    let mut env =
        Trading::from_kwargs(&kwargs(&[("csv", CSV), ("window", "2"), ("cost", "0")])).unwrap();
    assert_eq!(env.spec().observation_space.flat_dim(), 4);
    let mut obs = [0.0f32; 4];
    env.reset(None, &mut obs).unwrap();
    assert_eq!(&obs[..2], [z(1), z(2)]);
    // Sell while flat at period 2: nothing happens.
    let r = env.step(SELL, &mut obs).unwrap();
    assert_eq!(r.reward, 0.0);
    assert_eq!(&obs[2..], [0.0, 1.0]);
    // Period 3 (103): buy 1/103 shares; period 4 (104): reward 104/103 - 1.
    let r = env.step(BUY, &mut obs).unwrap();
    assert!(close(r.reward, 104.0 / 103.0 - 1.0), "{r:?}");
    // Buy again while invested: no cost, the shares just ride to 100: 100/103 - 104/103.
    let r = env.step(BUY, &mut obs).unwrap();
    assert!(close(r.reward, (100.0 - 104.0) / 103.0), "{r:?}");
    let mut steps = 3;
    loop {
        steps += 1;
        if env.step(HOLD, &mut obs).unwrap().done() {
            break;
        }
    }
    assert_eq!(steps, 7);
    // Held from period 3 to 9 with no cost: value 108.9 / 103.
    let mut state = [0.0; 3];
    env.get_state(&mut state).unwrap();
    assert!(close(state[2] * 108.9, 108.9 / 103.0));
}

#[test]
fn the_synthetic_series_is_the_default() {
    let mut env = envs::make("Trading-v0", &BTreeMap::new()).unwrap();
    assert_eq!(env.spec(), &trading::SPEC);
    let mut obs = [0.0f32; 8];
    env.reset(Some(0), &mut obs).unwrap();
    // 1000 prices, window 6: 993 steps. Hold throughout: nothing is ever earned or paid.
    let mut steps = 0;
    loop {
        let r = env.step(HOLD, &mut obs).unwrap();
        assert_eq!(r.reward, 0.0);
        steps += 1;
        assert!(obs.iter().all(|v| v.is_finite() && v.abs() <= 10.0));
        if r.done() {
            assert!(r.terminated && !r.truncated);
            break;
        }
    }
    assert_eq!(steps, 993);
    // Other seeds, other markets; the same seed, the same market.
    let series = |seed: &str| {
        let e = Trading::from_kwargs(&kwargs(&[("series_seed", seed), ("length", "50")])).unwrap();
        e.prices().to_vec()
    };
    assert_eq!(series("1"), series("1"));
    assert_ne!(series("1"), series("2"));
    assert_eq!(series("1").len(), 50);
}

#[test]
fn bad_csv_files_name_the_file_and_line() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let cases = [
        (
            "no-close.csv",
            "date,price\n2024-01-01,1\n",
            "line 1: the header `date,price` has no `close` column",
        ),
        (
            "bad-close.csv",
            "date,close\n2024-01-01,1\n2024-01-02,abc\n",
            "line 3: close `abc` is not a positive number",
        ),
        (
            "zero-close.csv",
            "date,close\n2024-01-01,0\n",
            "line 2: close `0` is not a positive number",
        ),
        (
            "short-row.csv",
            "date,close\n2024-01-01\n",
            "line 2: no field 2 (close)",
        ),
        ("empty.csv", "", "line 1: empty file"),
    ];
    for (name, text, want) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let e = Trading::from_kwargs(&kwargs(&[("csv", path.to_str().unwrap())])).unwrap_err();
        assert!(matches!(e, TradingError::Csv { .. }), "{name}: {e}");
        let msg = e.to_string();
        assert!(msg.contains(name) && msg.contains(want), "{name}: {msg}");
    }
    let short = dir.join("short.csv");
    std::fs::write(&short, "Date,Open,Close\n1,1,1\n2,2,2\n").unwrap();
    let e = Trading::from_kwargs(&kwargs(&[("csv", short.to_str().unwrap())])).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("has 2 prices; window=6 needs at least 8"),
        "{e}"
    );
    let missing = dir.join("no-such-prices.csv");
    let e = envs::make("Trading-v0", &kwargs(&[("csv", missing.to_str().unwrap())]))
        .err()
        .unwrap();
    assert!(
        e.to_string().starts_with("Trading-v0: csv ")
            && e.to_string().contains("no-such-prices.csv"),
        "{e}"
    );
}
