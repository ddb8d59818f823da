"""Search spaces of `picorl tune`, one per algorithm, in the manner of rl-baselines3-zoo's
`hyperparams_opt.py`: each hyper-parameter a distribution Optuna samples from. The ranges follow
the zoo's samplers (`sample_ppo_params`, `sample_a2c_params`, `sample_dqn_params`,
`sample_sac_params`, `sample_td3_params`), narrowed to picorl's keys (`picorl train --set KEY=...`)
and to the small networks a microcontroller runs. A key not in a space keeps the value of the
built-in config (`host/configs/ALGO.toml`) or of `--config`.

`picorl tune --space FILE.toml` overrides these: a table per key, one of

    [learning_rate]
    float = [1e-4, 1e-2]    # uniform; add `log = true` for log-uniform
    [n_epochs]
    int = [3, 20]           # optional `step = 1`, `log = false`
    [hidden]
    choices = [[32, 32], [64, 64]]
    [ent_coef]
    value = 0.0             # fixed: not searched
    [vf_coef]
    skip = true             # drop a built-in dimension: the config's value is used

Values are TOML values, passed to `picorl train --set key=value` as written.
"""

# Each dimension: ("float", low, high, log) | ("int", low, high, step, log) | ("choices", [...]) |
# ("value", v).

ACTIVATIONS = ["tanh", "relu", "hardtanh"]
NETS = [[32, 32], [64, 64], [128, 128]]

SPACES = {
    # rl-baselines3-zoo sample_ppo_params: batch_size, n_steps, gamma, learning_rate, ent_coef,
    # clip_range, n_epochs, gae_lambda, max_grad_norm, vf_coef, net_arch, activation_fn.
    "ppo": {
        "n_envs": ("choices", [4, 8, 16]),
        "n_steps": ("choices", [16, 32, 64, 128, 256, 512]),
        "batch_size": ("choices", [32, 64, 128, 256]),
        "n_epochs": ("choices", [1, 5, 10, 20]),
        "gamma": ("choices", [0.9, 0.95, 0.98, 0.99, 0.995, 0.999]),
        "learning_rate": ("float", 1e-5, 1e-2, True),
        "ent_coef": ("float", 1e-8, 0.1, True),
        "clip_range": ("choices", [0.1, 0.2, 0.3, 0.4]),
        "gae_lambda": ("choices", [0.8, 0.9, 0.92, 0.95, 0.98, 0.99, 1.0]),
        "max_grad_norm": ("choices", [0.3, 0.5, 0.7, 1.0, 2.0, 5.0]),
        "vf_coef": ("float", 0.0, 1.0, False),
        "hidden": ("choices", NETS),
        "activation": ("choices", ACTIVATIONS),
    },
    # rl-baselines3-zoo sample_a2c_params.
    "a2c": {
        "n_envs": ("choices", [4, 8, 16]),
        "n_steps": ("choices", [5, 8, 16, 32, 64]),
        "gamma": ("choices", [0.9, 0.95, 0.98, 0.99, 0.995, 0.999]),
        "learning_rate": ("float", 1e-5, 1e-2, True),
        "ent_coef": ("float", 1e-8, 0.1, True),
        "gae_lambda": ("choices", [0.8, 0.9, 0.92, 0.95, 0.98, 0.99, 1.0]),
        "max_grad_norm": ("choices", [0.3, 0.5, 0.7, 1.0, 2.0, 5.0]),
        "vf_coef": ("float", 0.0, 1.0, False),
        "normalize_advantage": ("choices", [False, True]),
        "hidden": ("choices", NETS),
        "activation": ("choices", ACTIVATIONS),
    },
    "reinforce": {
        "learning_rate": ("float", 1e-5, 1e-1, True),
        "gamma": ("choices", [0.9, 0.95, 0.98, 0.99, 0.995, 0.999]),
        "ent_coef": ("float", 1e-8, 0.1, True),
        "hidden": ("choices", NETS),
        "activation": ("choices", ACTIVATIONS),
    },
    # rl-baselines3-zoo sample_dqn_params: gamma, learning_rate, batch_size, buffer_size,
    # exploration_final_eps, exploration_fraction, target_update_interval, learning_starts,
    # train_freq, subsample_steps (gradient_steps), net_arch.
    "dqn": {
        "gamma": ("choices", [0.9, 0.95, 0.98, 0.99, 0.995, 0.999]),
        "learning_rate": ("float", 1e-5, 1e-2, True),
        "batch_size": ("choices", [32, 64, 128, 256]),
        "buffer_size": ("choices", [10000, 50000, 100000]),
        "exploration_final_eps": ("float", 0.0, 0.2, False),
        "exploration_fraction": ("float", 0.0, 0.5, False),
        "target_update_interval": ("choices", [1, 256, 1000, 5000]),
        "learning_starts": ("choices", [0, 1000, 5000]),
        "train_freq": ("choices", [1, 4, 8, 16, 128]),
        "gradient_steps": ("choices", [1, 2, 4, 8, 32]),
        "hidden": ("choices", NETS),
    },
    # rl-baselines3-zoo sample_sac_params (its ent_coef is always "auto").
    "sac": {
        "gamma": ("choices", [0.9, 0.95, 0.98, 0.99, 0.995, 0.999]),
        "learning_rate": ("float", 1e-5, 1e-2, True),
        "batch_size": ("choices", [64, 128, 256, 512]),
        "buffer_size": ("choices", [10000, 100000, 1000000]),
        "learning_starts": ("choices", [0, 1000, 10000]),
        "train_freq": ("choices", [1, 4, 8, 16, 32]),
        "tau": ("choices", [0.001, 0.005, 0.01, 0.02, 0.05]),
        "actor_hidden": ("choices", NETS),
        "critic_hidden": ("choices", [[64, 64], [256, 256]]),
    },
    # rl-baselines3-zoo sample_td3_params.
    "td3": {
        "gamma": ("choices", [0.9, 0.95, 0.98, 0.99, 0.995, 0.999]),
        "learning_rate": ("float", 1e-5, 1e-2, True),
        "batch_size": ("choices", [64, 128, 256, 512]),
        "buffer_size": ("choices", [10000, 100000, 1000000]),
        "train_freq": ("choices", [1, 4, 8, 16, 32]),
        "tau": ("choices", [0.001, 0.005, 0.01, 0.02, 0.05]),
        "noise_std": ("float", 0.0, 1.0, False),
        "actor_hidden": ("choices", NETS),
        "critic_hidden": ("choices", [[64, 64], [256, 256]]),
    },
    "qlearning": {
        "learning_rate": ("float", 0.01, 1.0, True),
        "gamma": ("choices", [0.9, 0.95, 0.99, 0.999]),
        "epsilon": ("float", 0.01, 0.5, True),
    },
}
SPACES["ddpg"] = dict(SPACES["td3"])
SPACES["sarsa"] = dict(SPACES["qlearning"])


def from_override(key, spec):
    """One dimension from a table of the override file; the error names the key."""
    kinds = [k for k in ("float", "int", "choices", "value", "skip") if k in spec]
    if len(kinds) != 1:
        raise ValueError(f"[{key}]: give exactly one of float, int, choices, value, skip")
    kind = kinds[0]
    unknown = set(spec) - {kind, "log", "step"}
    if unknown:
        raise ValueError(f"[{key}]: unknown field {sorted(unknown)[0]}")
    if kind == "skip":
        return None
    if kind == "value":
        return ("value", spec["value"])
    if kind == "choices":
        if not isinstance(spec["choices"], list) or not spec["choices"]:
            raise ValueError(f"[{key}]: choices must be a non-empty list")
        return ("choices", spec["choices"])
    bounds = spec[kind]
    if not (isinstance(bounds, list) and len(bounds) == 2 and bounds[0] <= bounds[1]):
        raise ValueError(f"[{key}]: {kind} must be [low, high] with low <= high")
    if kind == "float":
        return ("float", float(bounds[0]), float(bounds[1]), bool(spec.get("log", False)))
    return ("int", int(bounds[0]), int(bounds[1]), int(spec.get("step", 1)), bool(spec.get("log", False)))


def space(algo, overrides):
    """The space of `algo`, with the override file's tables (a dict) applied."""
    if algo not in SPACES:
        raise ValueError(f"no search space for --algo {algo}; known: {', '.join(sorted(SPACES))}")
    s = dict(SPACES[algo])
    for key, spec in overrides.items():
        if not isinstance(spec, dict):
            raise ValueError(f"[{key}]: expected a table (for example `[{key}]` with `choices = [...]`)")
        dim = from_override(key, spec)
        if dim is None:
            s.pop(key, None)
        else:
            s[key] = dim
    return s


def toml_value(v):
    """A Python value as the TOML text `--set key=value` takes."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise ValueError(f"cannot pass {v!r} to --set")


def sample(trial, s):
    """Draws every dimension of space `s` through Optuna's trial; returns {key: value}."""
    out = {}
    for key, dim in s.items():
        kind = dim[0]
        if kind == "float":
            out[key] = trial.suggest_float(key, dim[1], dim[2], log=dim[3])
        elif kind == "int":
            out[key] = trial.suggest_int(key, dim[1], dim[2], step=dim[3], log=dim[4])
        elif kind == "choices":
            choices = dim[1]
            # Optuna's categorical choices are scalars: lists (network sizes) go by their text.
            if any(isinstance(c, (list, dict)) for c in choices):
                texts = [toml_value(c) for c in choices]
                out[key] = choices[texts.index(trial.suggest_categorical(key, texts))]
            else:
                out[key] = trial.suggest_categorical(key, choices)
        else:
            out[key] = dim[1]
    return out
