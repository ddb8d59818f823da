//! `Trading-v0`: a single-asset market for a long-only, all-in/all-out trading agent. Host only
//! (it reads files and allocates), with core's [`Env`] contract: Gymnasium's `terminated` and
//! `truncated`, typed errors, no panics.
//!
//! # The market
//! A series of closing prices `p_0 … p_{T-1}`, either
//! - read from a CSV file (`csv=PATH`): a header line naming a `close` column (any case, any
//!   position; e.g. `date,close`, or Yahoo's `Date,Open,High,Low,Close,Adj Close,Volume`), one
//!   row per period in chronological order; other columns, the date included, are not read.
//!   Every close must be a finite positive number. Blank lines are skipped; fields are not
//!   quoted;
//! - or, by default, synthetic: a geometric Brownian motion from `p_0 = 100`,
//!   `p_k = p_{k-1} · exp((μ − σ²/2)·Δt + σ·√Δt·Z_k)` with `Δt = 1/252` (one trading day),
//!   annual drift `μ = drift` (default 0.05), annual volatility `σ = volatility` (default 0.2),
//!   `length` prices (default 1000, about four years), and `Z_k` standard normals from a PCG
//!   generator (core's `rng::normal_f64`). With `autocorrelation=φ` (in `(−1, 1)`, default 0)
//!   the log returns' deviations from their mean follow an AR(1) process of the same variance,
//!   `e_k = φ·e_{k−1} + √(1 − φ²)·σ·√Δt·Z_k` (momentum for `φ > 0`, mean reversion for
//!   `φ < 0`): a market with something to learn beyond the drift, which plain geometric
//!   Brownian motion (`φ = 0`, where no policy beats buy-and-hold in expectation) is not. With `series_seed=K` the market is the one series of
//!   generator seed `K`, every episode. Without it (the default) **every episode is a new
//!   market**, as a Gymnasium environment's episodes vary with its seed: `reset(seed)` seeds the
//!   generator with `seed` and draws the series (so reset seed `K` gives the series of
//!   `series_seed=K`), an unseeded reset (an autoreset) draws the next series from the same
//!   generator, and a new environment holds the series of seed 0 until its first reset. An agent
//!   trained so learns to trade a market, not to remember one, and is judged on series it never
//!   saw (`picorl eval RUN --seed 1000000`: reset seeds no training or evaluation used). The same
//!   options and seeds give the same series on every machine.
//!
//! # Actions, portfolio and reward
//! `Discrete(3)`: **0 = Buy**, **1 = Hold**, **2 = Sell** ([`TradeAction`]). The portfolio starts
//! each episode as cash 1.0 and no shares, at period `t = window`. At period `t`, Buy spends all
//! the cash on shares at `p_t`, Sell sells all the shares at `p_t`, and a trade pays a
//! transaction cost `cost` (default 0.001, i.e. 0.1%) of the traded amount: buying with cash `C`
//! gives `C·(1 − cost)/p_t` shares, selling `S` shares gives `S·p_t·(1 − cost)` cash. Buying
//! while already invested, or selling with no shares, does nothing and costs nothing. Then the
//! market moves to `t + 1` and the reward is the change in portfolio value net of the cost,
//! `V_{t+1} − V_t` with `V_t = cash + shares·p_t` valued before the trade. With a start value of
//! 1, an episode's return is its profit as a fraction of the starting capital.
//!
//! # Observation
//! `Box(window + 2)`, f32: the last `window` normalized log returns `z_{t−window+1} … z_t`, then
//! the position (1 when holding shares, 0 when flat) and the cash fraction `cash / V_t`.
//! `window` is 6 by default and at most 6 ([`MAX_WINDOW`]), so the observation has at most 8
//! values and a policy for it stays small enough for a controller. The return of period `k`
//! is `r_k = ln(p_k / p_{k−1})`, normalized by the root mean square of all the returns up to and
//! including it, `z_k = r_k / sqrt((r_1² + … + r_k²) / k)` (0 when that is 0): causal (no
//! look-ahead into the episode's future), free of the price level and the series' volatility,
//! and clipped to `[−10, 10]` (`|z_k| ≤ √k` anyway, so only long calm series followed by a
//! crash reach the clip). In this all-in/all-out market the position and the cash fraction are
//! complementary (`cash fraction = 1 − position` in every reachable state); both are kept, as
//! the environment's interface promises, so that fractional trades can come without changing
//! the observation's layout.
//!
//! # Episode
//! One pass over the series: `T − 1 − window` steps, from `t = window` to the last price, where
//! the episode is **terminated** (the pass is the task; there is no value beyond the data to
//! bootstrap from). There is no time limit, so `truncated` is never set. A CSV file or a
//! `series_seed` makes every episode the same market, and [`Env::reset`] ignores its seed; the
//! default synthetic market draws a new series at every reset (above).
//!
//! # State
//! [`Env::set_state`] takes `[t, cash, shares]` with `t` an integer period in
//! `window ..= T − 2`, `cash` and `shares` finite, non-negative, and not both 0.
//!
//! # Options (`--env-kwargs`)
//! `csv`, `window`, `cost` (in `[0, 1)`), and for the synthetic series `length`, `series_seed`,
//! `drift`, `volatility` (an error together with `csv`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use picorl_core::env::{Action, Env, EnvError, EnvSpec, Space, StepResult, NO_TIME_LIMIT};
use picorl_core::rng;

/// The environment's id.
pub const ID: &str = "Trading-v0";
/// The most past returns an observation holds: with position and cash, 8 values, so that a
/// policy for it stays small enough for a controller.
pub const MAX_WINDOW: usize = 6;
/// Past returns in an observation by default.
pub const DEFAULT_WINDOW: usize = MAX_WINDOW;
/// The transaction cost by default: 0.1% of the traded amount.
pub const DEFAULT_COST: f64 = 0.001;
/// Prices in the synthetic series by default.
pub const DEFAULT_LENGTH: usize = 1000;
/// The synthetic series' annual drift by default.
pub const DEFAULT_DRIFT: f64 = 0.05;
/// The synthetic series' annual volatility by default.
pub const DEFAULT_VOLATILITY: f64 = 0.2;
/// The synthetic series' first price.
pub const START_PRICE: f64 = 100.0;
/// Periods a year in the synthetic series (trading days): `Δt = 1 / 252`.
pub const PERIODS_PER_YEAR: f64 = 252.0;
/// Normalized returns are clipped to `[-RETURN_CLIP, RETURN_CLIP]`.
pub const RETURN_CLIP: f32 = 10.0;
/// The most prices a synthetic series may have.
pub const MAX_LENGTH: usize = 100_000_000;
/// The portfolio's value at the start of every episode.
pub const START_CASH: f64 = 1.0;

/// The spec with the default window (what `picorl env list` shows); an environment made with
/// another `window` has `window + 2` observation values.
pub const SPEC: EnvSpec = spec_for(DEFAULT_WINDOW);

/// One row of observation bounds per window `w` (row `w`: `w` return bounds, then the position's
/// and the cash fraction's, then unused values): the `'static` slices the specs point into.
const fn bounds_table(ret: f32, holding: f32) -> [[f32; MAX_WINDOW + 2]; MAX_WINDOW + 1] {
    let mut table = [[0.0f32; MAX_WINDOW + 2]; MAX_WINDOW + 1];
    let mut w = 0;
    while w <= MAX_WINDOW {
        let mut i = 0;
        while i < w {
            table[w][i] = ret;
            i += 1;
        }
        // Position and cash fraction.
        table[w][w] = holding;
        table[w][w + 1] = holding;
        w += 1;
    }
    table
}

const LOW: [[f32; MAX_WINDOW + 2]; MAX_WINDOW + 1] = bounds_table(-RETURN_CLIP, 0.0);
const HIGH: [[f32; MAX_WINDOW + 2]; MAX_WINDOW + 1] = bounds_table(RETURN_CLIP, 1.0);

/// The spec of a `Trading-v0` with `window` past returns (`1 ..= MAX_WINDOW`).
const fn spec_for(window: usize) -> EnvSpec {
    let (low, high): (&'static [_; MAX_WINDOW + 1], &'static [_; MAX_WINDOW + 1]) = (&LOW, &HIGH);
    EnvSpec {
        id: ID,
        observation_space: Space::Box {
            dim: window + 2,
            low: low[window].split_at(window + 2).0,
            high: high[window].split_at(window + 2).0,
        },
        action_space: Space::Discrete { n: 3 },
        max_episode_steps: NO_TIME_LIMIT,
    }
}

/// `Trading-v0`'s actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeAction {
    /// 0: spend all the cash on shares.
    Buy = 0,
    /// 1: do nothing.
    Hold = 1,
    /// 2: sell all the shares.
    Sell = 2,
}

impl TradeAction {
    /// The action of index `a`, `None` outside `0..3`.
    pub const fn from_index(a: u32) -> Option<Self> {
        match a {
            0 => Some(TradeAction::Buy),
            1 => Some(TradeAction::Hold),
            2 => Some(TradeAction::Sell),
            _ => None,
        }
    }
}

/// Why `Trading-v0` could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TradingError {
    /// An option `Trading-v0` does not take.
    #[error("{ID} has no option `{key}` (known: {})", OPTION_KEYS.join(", "))]
    UnknownOption {
        /// The option given.
        key: String,
    },
    /// An option value that does not parse or is out of range.
    #[error("option {key}={value}: expected {expected}")]
    BadValue {
        /// The option.
        key: &'static str,
        /// The value given.
        value: String,
        /// What the option takes.
        expected: &'static str,
    },
    /// An option of the synthetic series given together with `csv`.
    #[error("option {key} is for the synthetic series and cannot go with csv")]
    NotWithCsv {
        /// The option.
        key: &'static str,
    },
    /// The CSV file could not be read.
    #[error("csv {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A line of the CSV file is wrong.
    #[error("csv {path} line {line}: {what}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// Too few prices for one step with this window.
    #[error("{source_name} has {prices} prices; window={window} needs at least {needed}")]
    TooShort {
        /// The CSV file's name or "the synthetic series".
        source_name: String,
        /// Prices given.
        prices: usize,
        /// The window.
        window: usize,
        /// Prices needed (`window + 2`).
        needed: usize,
    },
}

/// Every option `Trading-v0` takes.
pub const OPTION_KEYS: &[&str] = &[
    "csv",
    "window",
    "cost",
    "length",
    "series_seed",
    "drift",
    "volatility",
    "autocorrelation",
];

/// `Trading-v0`'s options, as `--env-kwargs` sets them.
#[derive(Debug, Clone, PartialEq)]
pub struct TradingOptions {
    /// A CSV file of closing prices; `None`: the synthetic series.
    pub csv: Option<PathBuf>,
    /// Past returns in an observation, `1 ..= MAX_WINDOW`.
    pub window: usize,
    /// The transaction cost, a fraction of the traded amount in `[0, 1)`.
    pub cost: f64,
    /// Prices in the synthetic series.
    pub length: usize,
    /// The synthetic series' seed: `Some(K)`, the one series of seed `K` every episode; `None`,
    /// a new series every episode, drawn from the reset seed.
    pub series_seed: Option<u64>,
    /// The synthetic series' annual drift.
    pub drift: f64,
    /// The synthetic series' annual volatility (non-negative).
    pub volatility: f64,
    /// The lag-one autocorrelation of the synthetic series' log returns, in `(-1, 1)`.
    pub autocorrelation: f64,
}

impl Default for TradingOptions {
    fn default() -> Self {
        Self {
            csv: None,
            window: DEFAULT_WINDOW,
            cost: DEFAULT_COST,
            length: DEFAULT_LENGTH,
            series_seed: None,
            drift: DEFAULT_DRIFT,
            volatility: DEFAULT_VOLATILITY,
            autocorrelation: 0.0,
        }
    }
}

impl TradingOptions {
    /// Parses `key=value` options (values may be quoted).
    pub fn from_kwargs(kwargs: &BTreeMap<String, String>) -> Result<Self, TradingError> {
        let mut o = Self::default();
        for (key, value) in kwargs {
            let v = unquote(value);
            let bad = |key: &'static str, expected: &'static str| TradingError::BadValue {
                key,
                value: value.clone(),
                expected,
            };
            match key.trim() {
                "csv" if !v.is_empty() => o.csv = Some(PathBuf::from(v)),
                "csv" => return Err(bad("csv", "a file path")),
                "window" => {
                    o.window = v
                        .parse()
                        .ok()
                        .filter(|w| (1..=MAX_WINDOW).contains(w))
                        .ok_or_else(|| bad("window", "an integer in 1..=6"))?
                }
                "cost" => {
                    o.cost = v
                        .parse()
                        .ok()
                        .filter(|c| (0.0..1.0).contains(c))
                        .ok_or_else(|| bad("cost", "a fraction in [0, 1), e.g. 0.001"))?
                }
                "length" => {
                    o.length = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LENGTH).contains(n))
                        .ok_or_else(|| bad("length", "a positive integer (at most 1e8)"))?
                }
                "series_seed" => {
                    o.series_seed = Some(
                        v.parse()
                            .map_err(|_| bad("series_seed", "a non-negative integer"))?,
                    )
                }
                "drift" => {
                    o.drift = v
                        .parse()
                        .ok()
                        .filter(|d: &f64| d.is_finite())
                        .ok_or_else(|| bad("drift", "a finite number (annual)"))?
                }
                "volatility" => {
                    o.volatility = v
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                        .ok_or_else(|| bad("volatility", "a non-negative number (annual)"))?
                }
                "autocorrelation" => {
                    o.autocorrelation = v
                        .parse()
                        .ok()
                        .filter(|p: &f64| p.is_finite() && p.abs() < 1.0)
                        .ok_or_else(|| bad("autocorrelation", "a number in (-1, 1)"))?
                }
                _ => {
                    return Err(TradingError::UnknownOption {
                        key: key.to_string(),
                    })
                }
            }
        }
        if o.csv.is_some() {
            for key in [
                "length",
                "series_seed",
                "drift",
                "volatility",
                "autocorrelation",
            ] {
                if kwargs.keys().any(|k| k.trim() == key) {
                    return Err(TradingError::NotWithCsv {
                        key: OPTION_KEYS
                            .iter()
                            .copied()
                            .find(|k| *k == key)
                            .unwrap_or("length"),
                    });
                }
            }
        }
        Ok(o)
    }
}

/// `"text"`, `'text'` or `text`, trimmed.
fn unquote(value: &str) -> &str {
    let v = value.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner.trim();
        }
    }
    v
}

/// The `Trading-v0` environment (see the module's docs).
#[derive(Debug, Clone)]
pub struct Trading {
    spec: EnvSpec,
    window: usize,
    cost: f64,
    prices: Vec<f64>,
    /// `z[k]`, the normalized return of period `k` (`z[0]` unused).
    z: Vec<f32>,
    /// The synthetic market that draws a new series every episode, if this is one.
    draws: Option<Draws>,
    t: usize,
    cash: f64,
    shares: f64,
    running: bool,
}

/// A synthetic market drawn anew every episode: the series' parameters and the generator.
#[derive(Debug, Clone)]
struct Draws {
    series: Series,
    rng: rng::Pcg32,
}

/// The synthetic series' parameters (see the module's docs).
#[derive(Debug, Clone, Copy)]
struct Series {
    length: usize,
    drift: f64,
    volatility: f64,
    autocorrelation: f64,
}

impl Trading {
    /// Makes `Trading-v0` from its `--env-kwargs`.
    pub fn from_kwargs(kwargs: &BTreeMap<String, String>) -> Result<Self, TradingError> {
        Self::new(&TradingOptions::from_kwargs(kwargs)?)
    }

    /// Makes `Trading-v0` from its options: reads the CSV file or draws the synthetic series.
    pub fn new(options: &TradingOptions) -> Result<Self, TradingError> {
        let mut draws = None;
        let (prices, source_name) = match &options.csv {
            Some(path) => (read_csv(path)?, format!("csv {}", path.display())),
            None => {
                let series = Series {
                    length: options.length,
                    drift: options.drift,
                    volatility: options.volatility,
                    autocorrelation: options.autocorrelation,
                };
                let mut rng = rng::seeded(options.series_seed.unwrap_or(0));
                let prices = series.draw(&mut rng);
                if options.series_seed.is_none() {
                    draws = Some(Draws { series, rng });
                }
                (prices, "the synthetic series".to_string())
            }
        };
        let mut env =
            Self::from_prices(prices, options.window, options.cost).map_err(|e| match e {
                TradingError::TooShort {
                    prices,
                    window,
                    needed,
                    ..
                } => TradingError::TooShort {
                    source_name,
                    prices,
                    window,
                    needed,
                },
                e => e,
            })?;
        env.draws = draws;
        Ok(env)
    }

    /// Makes `Trading-v0` over `prices` (finite and positive), with `window` past returns and a
    /// transaction cost `cost`.
    pub fn from_prices(prices: Vec<f64>, window: usize, cost: f64) -> Result<Self, TradingError> {
        if !(1..=MAX_WINDOW).contains(&window) {
            return Err(TradingError::BadValue {
                key: "window",
                value: window.to_string(),
                expected: "an integer in 1..=6",
            });
        }
        if !(0.0..1.0).contains(&cost) {
            return Err(TradingError::BadValue {
                key: "cost",
                value: cost.to_string(),
                expected: "a fraction in [0, 1), e.g. 0.001",
            });
        }
        if let Some(k) = prices.iter().position(|p| !(p.is_finite() && *p > 0.0)) {
            return Err(TradingError::BadValue {
                key: "prices",
                value: format!("price {k} = {:?}", prices[k]),
                expected: "finite positive prices",
            });
        }
        if prices.len() < window + 2 {
            return Err(TradingError::TooShort {
                source_name: "the series".to_string(),
                prices: prices.len(),
                window,
                needed: window + 2,
            });
        }
        Ok(Self {
            spec: spec_for(window),
            window,
            cost,
            z: normalized_returns(&prices),
            draws: None,
            prices,
            t: window,
            cash: START_CASH,
            shares: 0.0,
            running: false,
        })
    }

    /// The price series.
    pub fn prices(&self) -> &[f64] {
        &self.prices
    }

    /// The portfolio's value at the current period.
    pub fn value(&self) -> f64 {
        self.cash + self.shares * self.prices[self.t]
    }

    fn write_obs(&self, obs: &mut [f32]) -> Result<(), EnvError> {
        let dim = self.window + 2;
        if obs.len() != dim {
            return Err(EnvError::ObsBuffer {
                expected: dim,
                got: obs.len(),
            });
        }
        let first = self.t + 1 - self.window;
        obs[..self.window].copy_from_slice(&self.z[first..=self.t]);
        let value = self.value();
        obs[self.window] = if self.shares > 0.0 { 1.0 } else { 0.0 };
        obs[self.window + 1] = (self.cash / value) as f32;
        Ok(())
    }
}

impl Env for Trading {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    /// Starts the pass over the series: cash 1.0, no shares, period `window`. A fixed market (a
    /// CSV file, a `series_seed`) ignores the seed; the default synthetic market draws the
    /// episode's series, from `seed` or, without one, from where its generator stands.
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        if let Some(d) = &mut self.draws {
            if let Some(seed) = seed {
                d.rng = rng::seeded(seed);
            }
            self.prices = d.series.draw(&mut d.rng);
            self.z = normalized_returns(&self.prices);
        }
        self.t = self.window;
        self.cash = START_CASH;
        self.shares = 0.0;
        self.write_obs(obs)?;
        self.running = true;
        Ok(())
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
        let a = match action {
            Action::Discrete(a) => {
                TradeAction::from_index(a).ok_or(EnvError::ActionOutOfRange { action: a, n: 3 })?
            }
            Action::Continuous(_) => return Err(EnvError::WrongActionKind),
        };
        if obs.len() != self.window + 2 {
            return Err(EnvError::ObsBuffer {
                expected: self.window + 2,
                got: obs.len(),
            });
        }
        if !self.running {
            return Err(EnvError::NeedsReset);
        }
        let before = self.value();
        let price = self.prices[self.t];
        match a {
            TradeAction::Buy if self.cash > 0.0 => {
                self.shares += self.cash * (1.0 - self.cost) / price;
                self.cash = 0.0;
            }
            TradeAction::Sell if self.shares > 0.0 => {
                self.cash += self.shares * price * (1.0 - self.cost);
                self.shares = 0.0;
            }
            _ => {}
        }
        self.t += 1;
        let reward = self.value() - before;
        let terminated = self.t == self.prices.len() - 1;
        self.running = !terminated;
        self.write_obs(obs)?;
        Ok(StepResult {
            reward,
            terminated,
            truncated: false,
        })
    }

    fn state_dim(&self) -> usize {
        3
    }

    /// `[t, cash, shares]`.
    fn get_state(&self, out: &mut [f64]) -> Result<(), EnvError> {
        let got = out.len();
        let out: &mut [f64; 3] = out
            .try_into()
            .map_err(|_| EnvError::StateDim { expected: 3, got })?;
        *out = [self.t as f64, self.cash, self.shares];
        Ok(())
    }

    /// `[t, cash, shares]`: see the module's docs.
    fn set_state(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError> {
        let &[t, cash, shares] = state else {
            return Err(EnvError::StateDim {
                expected: 3,
                got: state.len(),
            });
        };
        let last = self.prices.len() - 2;
        if !(t.is_finite() && t.fract() == 0.0 && t >= self.window as f64 && t <= last as f64) {
            return Err(EnvError::InvalidState { index: 0 });
        }
        for (index, v) in [(1, cash), (2, shares)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(EnvError::InvalidState { index });
            }
        }
        if cash == 0.0 && shares == 0.0 {
            return Err(EnvError::InvalidState { index: 1 });
        }
        if obs.len() != self.window + 2 {
            return Err(EnvError::ObsBuffer {
                expected: self.window + 2,
                got: obs.len(),
            });
        }
        self.t = t as usize;
        self.cash = cash;
        self.shares = shares;
        self.running = true;
        self.write_obs(obs)
    }
}

/// `z[k] = r_k / sqrt(mean(r_1² … r_k²))`, `r_k = ln(p_k / p_{k-1})`, clipped; `z[0] = 0`.
fn normalized_returns(prices: &[f64]) -> Vec<f32> {
    let mut z = Vec::with_capacity(prices.len());
    z.push(0.0);
    let mut sum_sq = 0.0;
    for (k, w) in prices.windows(2).enumerate() {
        let r = (w[1] / w[0]).ln();
        sum_sq += r * r;
        let rms = (sum_sq / (k + 1) as f64).sqrt();
        let zk = if rms > 0.0 { r / rms } else { 0.0 };
        z.push((zk as f32).clamp(-RETURN_CLIP, RETURN_CLIP));
    }
    z
}

/// Buy-and-hold, the benchmark a trading agent answers to: buy at the first period and hold to
/// the end, on the episodes of reset seeds `first_seed..first_seed + episodes` of `env` (the
/// same markets an evaluation on those seeds meets).
pub fn buy_and_hold(
    env: &mut dyn Env,
    first_seed: u64,
    episodes: u32,
) -> anyhow::Result<crate::envs::eval::EvalResult> {
    struct AlwaysBuy;
    impl crate::envs::eval::Actor for AlwaysBuy {
        // Buying while invested does nothing and costs nothing: always Buy is buy-and-hold.
        fn act(&mut self, _obs: &[f32]) -> anyhow::Result<crate::envs::eval::OwnedAction> {
            Ok(crate::envs::eval::OwnedAction::Discrete(
                TradeAction::Buy as u32,
            ))
        }
    }
    crate::envs::eval::evaluate(env, &mut AlwaysBuy, first_seed, episodes)
}

/// The synthetic geometric-Brownian series of generator seed `seed` (see the module's docs;
/// no autocorrelation).
pub fn synthetic(length: usize, drift: f64, volatility: f64, seed: u64) -> Vec<f64> {
    Series {
        length,
        drift,
        volatility,
        autocorrelation: 0.0,
    }
    .draw(&mut rng::seeded(seed))
}

impl Series {
    /// A series drawn from `rng`.
    fn draw(&self, rng: &mut rng::Pcg32) -> Vec<f64> {
        let dt = 1.0 / PERIODS_PER_YEAR;
        let mu = (self.drift - 0.5 * self.volatility * self.volatility) * dt;
        let sigma = self.volatility * dt.sqrt();
        let phi = self.autocorrelation;
        // The innovation's share that keeps the variance at sigma^2 (exactly 1 when phi = 0, so
        // that a plain series is the same to the bit); the first deviation is drawn from the
        // stationary distribution, so every return has variance sigma^2.
        let keep = (1.0 - phi * phi).sqrt();
        let mut e = 0.0;
        let mut p = START_PRICE;
        let mut prices = Vec::with_capacity(self.length);
        for k in 0..self.length {
            if k > 0 {
                let z = sigma * rng::normal_f64(rng);
                e = if k == 1 { z } else { phi * e + keep * z };
                p *= (mu + e).exp();
            }
            prices.push(p);
        }
        prices
    }
}

/// Reads the `close` column of a CSV file (see the module's docs).
pub fn read_csv(path: &Path) -> Result<Vec<f64>, TradingError> {
    let text = std::fs::read_to_string(path).map_err(|source| TradingError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let csv_err = |line: usize, what: String| TradingError::Csv {
        path: path.to_path_buf(),
        line,
        what,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}').trim()))
        .filter(|(_, l)| !l.is_empty());
    let Some((header_line, header)) = lines.next() else {
        return Err(csv_err(
            1,
            "empty file (expected a header line such as date,close)".into(),
        ));
    };
    let close = header
        .split(',')
        .position(|h| h.trim().eq_ignore_ascii_case("close"))
        .ok_or_else(|| {
            csv_err(
                header_line,
                format!("the header `{header}` has no `close` column"),
            )
        })?;
    let mut prices = Vec::new();
    for (line, row) in lines {
        let field = row
            .split(',')
            .nth(close)
            .ok_or_else(|| csv_err(line, format!("no field {} (close) in `{row}`", close + 1)))?;
        let p = field
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && *p > 0.0)
            .ok_or_else(|| {
                csv_err(
                    line,
                    format!("close `{}` is not a positive number", field.trim()),
                )
            })?;
        prices.push(p);
    }
    Ok(prices)
}

#[cfg(test)]
mod tests;
