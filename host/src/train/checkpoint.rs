//! Checkpoints of the shared loop: the weights, the algorithm's resume state and the loop's own
//! state ([`TrainState`]) in one safetensors file committed by one rename, and `state.json`
//! beside it for people.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::ctx::TrainCtx;
use super::files::{write_atomic, CsvLog};
use super::{Algorithm, BEST, CHECKPOINT, STATE, TMP_CHECKPOINTS};

/// The checkpoint format this picorl writes and resumes. 3: DDPG's and TD3's networks on the
/// backends (`crate::algo::backend`), their Adam moments saved per network. 2: the loop owns
/// `metrics.csv`'s rows and its pending sums are in [`TrainState`] (1, unversioned: before). A checkpoint of another
/// format is refused by `--resume` with a message that says so; `eval`, `export` and `render`
/// read only the weights, which every format stores alike.
pub const FORMAT: u32 = 3;

/// The shared loop's state at a checkpoint: stored inside the checkpoint file (the tensor
/// [`TRAIN_STATE`], so that the weights and the state are committed by one rename) and, for
/// people, in `state.json` beside it.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub(super) struct TrainState {
    /// [`FORMAT`] when written (0: a checkpoint from before formats were numbered).
    #[serde(default)]
    pub(super) format: u32,
    pub(super) steps: u64,
    pub(super) episodes: u64,
    pub(super) train_seconds: f64,
    pub(super) eval_seconds: f64,
    pub(super) next_eval: u64,
    pub(super) solved_at_step: Option<u64>,
    pub(super) solved_train_seconds: Option<f64>,
    pub(super) last_eval: Option<(f64, f64)>,
    /// The recent training episodes (return, length) behind `metrics.csv`'s averages.
    #[serde(default)]
    pub(super) recent: Vec<(f64, u32)>,
    /// The byte lengths of the logs when the checkpoint was taken: `--resume` cuts the rows a
    /// killed run wrote after it, so that they are not written twice.
    #[serde(default)]
    pub(super) logs: std::collections::BTreeMap<String, u64>,
    /// The TensorBoard event file (its name) and its length when the checkpoint was taken:
    /// `--resume` cuts it back and continues it.
    #[serde(default)]
    pub(super) tensorboard: Option<(String, u64)>,
    /// The step from which the next `metrics.csv` row also goes to TensorBoard.
    #[serde(default)]
    pub(super) tensorboard_next: u64,
    /// The step at or after which the next `metrics.csv` row is written (`None` before the
    /// first checkpoint).
    #[serde(default)]
    pub(super) next_log: Option<u64>,
    /// The metrics logged since the last row.
    #[serde(default)]
    pub(super) pending: Option<super::ctx::Pending>,
    /// Whether this step was evaluated: `false` for the checkpoints of `--save-every` and of an
    /// interruption (a checkpoint of an older picorl always was).
    #[serde(default = "evaluated_by_default")]
    pub(super) evaluated: bool,
    /// Whether the run stopped here because an evaluation reached `--stop-at-return` (`None` in
    /// checkpoints of an older picorl, which tell it from `solved_at_step`).
    #[serde(default)]
    pub(super) stopped: Option<bool>,
    /// The best evaluation so far, (mean return, step): the one [`BEST`] holds.
    #[serde(default)]
    pub(super) best: Option<(f64, u64)>,
    /// `--save-every`: a checkpoint every this many steps besides the evaluations' (0: none).
    #[serde(default)]
    pub(super) save_every: u64,
    /// The step at or after which the next `--save-every` checkpoint is written.
    #[serde(default)]
    pub(super) next_save: u64,
}

pub(super) fn evaluated_by_default() -> bool {
    true
}

/// The name of the tensor holding the training loop's state (JSON bytes, as in `state.json`) in
/// the checkpoint file.
pub const TRAIN_STATE: &str = "picorl.train_state";

/// The logs a run appends to, cut back to the checkpoint on `--resume`.
pub(super) const LOGS: [&str; 4] = ["metrics.csv", "timing.csv", "episodes.csv", "eval.csv"];

/// A checkpoint's tensors but the loop's state (which holds wall-clock times): what two runs of
/// the same seed save identically, for tests that compare checkpoints.
pub fn learner_tensors(ckpt: &Path) -> Result<Vec<(String, tch::Tensor)>> {
    let mut saved = tch::Tensor::read_safetensors(ckpt)
        .with_context(|| format!("reading {}", ckpt.display()))?;
    saved.retain(|(n, _)| n != TRAIN_STATE);
    saved.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(saved)
}

/// The [`TrainState`] stored in a checkpoint file (`None` for a checkpoint without one).
pub(super) fn read_train_state(ckpt: &Path) -> Result<Option<TrainState>> {
    let saved = tch::Tensor::read_safetensors(ckpt)
        .with_context(|| format!("reading {}", ckpt.display()))?;
    let Some((_, t)) = saved.iter().find(|(n, _)| n == TRAIN_STATE) else {
        return Ok(None);
    };
    let bytes: Vec<u8> = Vec::<u8>::try_from(t.flatten(0, -1))
        .with_context(|| format!("{}: `{TRAIN_STATE}`", ckpt.display()))?;
    let state = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{}: `{TRAIN_STATE}` is not a training state",
            ckpt.display()
        )
    })?;
    Ok(Some(state))
}

/// Writes the checkpoint of the current step: the weights, the algorithm's resume state and the
/// loop's state, in one file committed by one rename, then `state.json`. `evaluated` tells
/// whether this step's evaluation was just logged; when it is the best so far (`state.best`),
/// [`BEST`] gets the same file first.
pub(super) fn save_checkpoint<A: Algorithm>(
    algo: &A,
    ctx: &mut TrainCtx,
    state: &mut TrainState,
    eval_log: &mut CsvLog,
    dir: &Path,
    evaluated: bool,
) -> Result<()> {
    state.evaluated = evaluated;
    if !evaluated {
        state.train_seconds = ctx.clock.as_secs_f64();
        state.steps = ctx.steps;
        state.episodes = ctx.episodes;
        state.recent = ctx.recent.iter().copied().collect();
        state.stopped = Some(false);
    }
    eval_log.flush()?;
    ctx.flush()?;
    let len_of = |n: &str| std::fs::metadata(dir.join(n)).map(|m| m.len()).unwrap_or(0);
    state.logs = LOGS.iter().map(|n| (n.to_string(), len_of(n))).collect();
    let events = ctx.tensorboard.file_name();
    state.tensorboard = Some((events.clone(), len_of(&events)));
    state.tensorboard_next = ctx.tensorboard_next;
    state.next_log = Some(ctx.next_log);
    state.pending = Some(ctx.pending.clone());
    // The weights, the algorithm's resume state and the loop's state in one file, committed by
    // one rename: a crash leaves the previous checkpoint or this one, whole.
    let ckpt = dir.join(CHECKPOINT);
    // The extension picks the format in tch, so the temporary name keeps `.safetensors`.
    let tmp = dir.join("checkpoint.tmp.safetensors");
    let written = (|| -> Result<()> {
        algo.save(&tmp)?;
        let mut named = tch::Tensor::read_safetensors(&tmp)
            .with_context(|| format!("reading back {}", tmp.display()))?;
        named.extend(algo.resume_state()?);
        let json = serde_json::to_vec(state)?;
        named.push((TRAIN_STATE.to_string(), tch::Tensor::from_slice(&json)));
        tch::Tensor::write_safetensors(&named, &tmp)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", tmp.display()))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("writing {}", tmp.display()))?;
        // The best checkpoint first: a crash between the two leaves a best that is no older
        // than the last checkpoint, and the resumed run writes the same one again.
        if evaluated && state.best.is_some_and(|(_, step)| step == ctx.steps) {
            let best = dir.join(BEST);
            let best_tmp = dir.join(TMP_CHECKPOINTS[1]);
            let copied = std::fs::copy(&tmp, &best_tmp)
                .and_then(|_| std::fs::File::open(&best_tmp)?.sync_all())
                .and_then(|_| std::fs::rename(&best_tmp, &best));
            if let Err(e) = copied {
                let _ = std::fs::remove_file(&best_tmp);
                return Err(e).with_context(|| format!("writing {}", best.display()));
            }
        }
        std::fs::rename(&tmp, &ckpt).with_context(|| format!("writing {}", ckpt.display()))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    write_atomic(&dir.join(STATE), serde_json::to_string(state)?.as_bytes())?;
    Ok(())
}
