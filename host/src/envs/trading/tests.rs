//! Tests of [`super`] (`trading`).

use super::*;

#[test]
fn normalized_returns_by_hand() {
    // r_1 = ln 2, r_2 = ln(1/2) = -ln 2, r_3 = 0: rms_1 = ln 2, rms_2 = ln 2,
    // rms_3 = ln 2 · sqrt(2/3); so z = [_, 1, -1, 0].
    let z = normalized_returns(&[1.0, 2.0, 1.0, 1.0]);
    assert_eq!(z, [0.0, 1.0, -1.0, 0.0]);
    // A constant series: every return 0, and 0 rather than 0/0.
    assert_eq!(normalized_returns(&[3.0; 4]), [0.0; 4]);
    // A crash after a long calm: clipped.
    let mut p = vec![1.0; 2000];
    p.push(1.0);
    p[1] = 1.0001;
    p.push(0.5);
    assert_eq!(*normalized_returns(&p).last().unwrap(), -RETURN_CLIP);
}

#[test]
fn synthetic_is_seeded_and_gbm_like() {
    let a = synthetic(2000, 0.05, 0.2, 7);
    assert_eq!(a, synthetic(2000, 0.05, 0.2, 7));
    assert_ne!(a, synthetic(2000, 0.05, 0.2, 8));
    assert_eq!(a[0], START_PRICE);
    // The daily log returns' standard deviation is σ·√Δt = 0.2/√252 ≈ 0.0126.
    let r: Vec<f64> = a.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
    let m = r.iter().sum::<f64>() / r.len() as f64;
    let sd = (r.iter().map(|x| (x - m).powi(2)).sum::<f64>() / r.len() as f64).sqrt();
    assert!((sd - 0.2 / 252f64.sqrt()).abs() < 0.001, "{sd}");
    // No volatility: a straight exponential with the drift.
    let flat = synthetic(253, 0.05, 0.0, 0);
    assert!((flat[252] / flat[0] - 0.05f64.exp()).abs() < 1e-12);
}

#[test]
fn options_are_checked() {
    let kw = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let o = TradingOptions::from_kwargs(&kw(&[("window", "3"), ("cost", "\"0.002\"")])).unwrap();
    assert_eq!((o.window, o.cost), (3, 0.002));
    for (k, v) in [
        ("window", "7"),
        ("window", "0"),
        ("cost", "1"),
        ("cost", "-0.1"),
        ("length", "x"),
        ("volatility", "-1"),
        ("drift", "inf"),
    ] {
        let e = TradingOptions::from_kwargs(&kw(&[(k, v)])).unwrap_err();
        assert!(
            matches!(e, TradingError::BadValue { key, .. } if key == k),
            "{k}={v}: {e}"
        );
    }
    let e = TradingOptions::from_kwargs(&kw(&[("gamma", "1")])).unwrap_err();
    assert!(e.to_string().contains("gamma") && e.to_string().contains("series_seed"));
    let e = TradingOptions::from_kwargs(&kw(&[("csv", "a.csv"), ("length", "9")])).unwrap_err();
    assert!(
        matches!(e, TradingError::NotWithCsv { key: "length" }),
        "{e}"
    );
    let e = Trading::from_kwargs(&kw(&[("length", "7")])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the synthetic series has 7 prices; window=6 needs at least 8"
    );
}

#[test]
fn refuses_bad_calls() {
    let mut env = Trading::from_prices(vec![1.0, 1.1, 1.2, 1.3], 2, 0.0).unwrap();
    let mut obs = [0.0f32; 4];
    assert_eq!(
        env.step(Action::Discrete(0), &mut obs),
        Err(EnvError::NeedsReset)
    );
    env.reset(Some(3), &mut obs).unwrap();
    assert_eq!(
        env.step(Action::Discrete(3), &mut obs),
        Err(EnvError::ActionOutOfRange { action: 3, n: 3 })
    );
    assert_eq!(
        env.step(Action::Continuous(&[1.0]), &mut obs),
        Err(EnvError::WrongActionKind)
    );
    assert!(matches!(
        env.step(Action::Discrete(0), &mut [0.0; 3]),
        Err(EnvError::ObsBuffer {
            expected: 4,
            got: 3
        })
    ));
    // Periods 2 ..= 2 only (4 prices, window 2).
    assert_eq!(
        env.set_state(&[3.0, 1.0, 0.0], &mut obs),
        Err(EnvError::InvalidState { index: 0 })
    );
    assert_eq!(
        env.set_state(&[2.5, 1.0, 0.0], &mut obs),
        Err(EnvError::InvalidState { index: 0 })
    );
    assert_eq!(
        env.set_state(&[2.0, f64::NAN, 0.0], &mut obs),
        Err(EnvError::InvalidState { index: 1 })
    );
    assert_eq!(
        env.set_state(&[2.0, 0.0, 0.0], &mut obs),
        Err(EnvError::InvalidState { index: 1 })
    );
    assert_eq!(
        env.set_state(&[2.0, 1.0], &mut obs),
        Err(EnvError::StateDim {
            expected: 3,
            got: 2
        })
    );
    env.set_state(&[2.0, 0.0, 2.0], &mut obs).unwrap();
    assert_eq!(&obs[2..], [1.0, 0.0]);
    let r = env.step(Action::Discrete(1), &mut obs).unwrap();
    // 2 shares, 1.2 -> 1.3.
    assert!((r.reward - 0.2).abs() < 1e-12 && r.terminated && !r.truncated);
    assert_eq!(
        env.step(Action::Discrete(1), &mut obs),
        Err(EnvError::NeedsReset)
    );
    assert!(Trading::from_prices(vec![1.0, -1.0, 1.0, 1.0], 2, 0.0).is_err());
    assert!(Trading::from_prices(vec![1.0, 1.0, 1.0], 2, 0.0).is_err());
}
