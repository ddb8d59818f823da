//! core's native learner (`picorl_core::learn`) against libtorch on the network work of one SAC
//! update at RLtools' Pendulum-v1 size (64×64 actor and two 64×64 critics, batch 100), and the
//! single-core floating-point rate that work is measured against.
//!
//! - `native/flops/…`: the arithmetic rate: eight independent 8-wide multiply-then-add chains
//!   (AVX2 when the CPU has it, 128-bit SSE otherwise), the ceiling for code that, like the
//!   learner, never fuses a multiply with an add. Throughput is in flops.
//! - `native/sac_pieces/{native,tch}`: the network work of one SAC update, the same kernels in the
//!   same order on both sides: the actor forward on `s` and `s'`, the two target critics on
//!   `(s', a')`, the two critics forward and backward on `(s, a)` and their Adam steps, the two
//!   critics forward on `(s, π(s))` and backward to the action, the actor's backward and Adam
//!   step, the temperature's Adam step and the Polyak average of the critics. The losses'
//!   element-wise math (a few hundred values) is simplified to what carries the gradients
//!   (squared error for the critics, `−min Q` through `tanh` for the actor); it is not an SAC
//!   implementation. tch runs it with autograd and `nn::Adam`, one thread. Throughput is the
//!   update's flops (multiply-adds × 2, counted from the shapes), so criterion prints the rate.
//! - `native/mlp/…`: forward, forward + backward, and forward + backward + Adam of one 3-64-64-2
//!   net at batch 100.
//! - `native/sac_update/{native,torch}`: picorl's SAC update itself (`Sac::update_once`: batch
//!   drawn from the replay, temperature, both critics, actor, Polyak), RLtools' Pendulum size
//!   (64×64, batch 100), on each backend: the same algorithm text, the backend is the only
//!   difference. Throughput is `sac_flops()`, the same count as `sac_pieces`.
//!
//! `cargo bench -p picorl-benches --bench main -- native/`
use criterion::{black_box, Criterion, Throughput};
use picorl_core::learn::{mlp, Adam, Mlp};
use picorl_core::nn::Activation;
use std::time::Duration;
use tch::nn::OptimizerConfig;
use tch::{nn, Kind, Tensor};

const B: usize = 100;
const OBS: usize = 3;
const ACT: usize = 1;
const H: usize = 64;
const ACTOR: [usize; 4] = [OBS, H, H, 2 * ACT];
const CRITIC: [usize; 4] = [OBS + ACT, H, H, 1];
const GAMMA: f32 = 0.99;
const TAU: f32 = 0.005;

/// Multiply-adds of one forward pass of `dims` over a batch.
fn macs(dims: &[usize]) -> u64 {
    dims.windows(2).map(|w| (w[0] * w[1]) as u64).sum::<u64>() * B as u64
}

/// The update's flops: 8 forwards (2 actor, 6 critic), 2 critic backwards to the weights (two
/// products a layer, less the first layer's input gradient), 2 critic backwards to the input
/// (one product a layer) and 1 actor backward to the weights.
fn sac_flops() -> u64 {
    let (a, c) = (macs(&ACTOR), macs(&CRITIC));
    let first = |d: &[usize]| (d[0] * d[1]) as u64 * B as u64;
    let fwd = 2 * a + 6 * c;
    let critic_w = 2 * (2 * c - first(&CRITIC));
    let critic_x = 2 * c;
    let actor_w = 2 * a - first(&ACTOR);
    2 * (fwd + critic_w + critic_x + actor_w)
}

/// One network's parameters, gradient and Adam state.
struct Net {
    p: Vec<f32>,
    g: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    adam: Adam,
}

impl Net {
    fn new(net: &Mlp, seed: u64) -> Self {
        let n = net.param_len();
        let mut p = vec![0f32; n];
        net.init(&mut p, &mut picorl_core::rng::seeded(seed))
            .unwrap();
        Self {
            p,
            g: vec![0f32; n],
            m: vec![0f32; n],
            v: vec![0f32; n],
            adam: Adam::new(3e-4),
        }
    }
    fn step(&mut self) {
        self.adam
            .step(&mut self.p, &self.g, &mut self.m, &mut self.v)
            .unwrap();
    }
}

/// Everything one native SAC-sized update touches, allocated once.
struct NativeSac {
    actor_net: Mlp,
    critic_net: Mlp,
    actor: Net,
    critics: [Net; 2],
    targets: [Vec<f32>; 2],
    log_alpha: Net,
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    rewards: Vec<f32>,
    x_sa: Vec<f32>,
    x_next: Vec<f32>,
    x_pi: Vec<f32>,
    acts_actor: Vec<f32>,
    acts_actor_next: Vec<f32>,
    acts_critic: [Vec<f32>; 2],
    acts_target: [Vec<f32>; 2],
    acts_pi: [Vec<f32>; 2],
    y: Vec<f32>,
    d_q: Vec<f32>,
    d_x: [Vec<f32>; 2],
    d_actor: Vec<f32>,
    scratch: Vec<f32>,
}

impl NativeSac {
    fn new() -> Self {
        let actor_net = Mlp::new(&ACTOR, Activation::Relu, Activation::Identity).unwrap();
        let critic_net = Mlp::new(&CRITIC, Activation::Relu, Activation::Identity).unwrap();
        let critics = [Net::new(&critic_net, 1), Net::new(&critic_net, 2)];
        let targets = [critics[0].p.clone(), critics[1].p.clone()];
        let wave = |n: usize, f: f32| (0..n).map(|i| (i as f32 * f).sin()).collect::<Vec<f32>>();
        let obs = wave(B * OBS, 0.37);
        let actions = wave(B * ACT, 0.91);
        let mut x_sa = vec![0f32; B * (OBS + ACT)];
        for b in 0..B {
            x_sa[b * 4..b * 4 + 3].copy_from_slice(&obs[b * 3..b * 3 + 3]);
            x_sa[b * 4 + 3] = actions[b];
        }
        let ca = critic_net.acts_len(B);
        let scratch = mlp::scratch_len(&ACTOR, B).max(mlp::scratch_len(&CRITIC, B));
        Self {
            actor: Net::new(&actor_net, 0),
            log_alpha: Net {
                p: vec![0.0],
                g: vec![0.0],
                m: vec![0.0],
                v: vec![0.0],
                adam: Adam::new(3e-4),
            },
            critics,
            targets,
            next_obs: wave(B * OBS, 0.41),
            rewards: wave(B, 0.13),
            obs,
            x_sa,
            x_next: vec![0f32; B * 4],
            x_pi: vec![0f32; B * 4],
            acts_actor: vec![0f32; actor_net.acts_len(B)],
            acts_actor_next: vec![0f32; actor_net.acts_len(B)],
            acts_critic: [vec![0f32; ca], vec![0f32; ca]],
            acts_target: [vec![0f32; ca], vec![0f32; ca]],
            acts_pi: [vec![0f32; ca], vec![0f32; ca]],
            y: vec![0f32; B],
            d_q: vec![0f32; B],
            d_x: [vec![0f32; B * 4], vec![0f32; B * 4]],
            d_actor: vec![0f32; B * 2],
            scratch: vec![0f32; scratch],
            actor_net,
            critic_net,
        }
    }

    fn update(&mut self) {
        let (an, cn) = (self.actor_net, self.critic_net);
        let alpha = self.log_alpha.p[0].exp();
        // Actor on s (kept for the actor step) and on s' (the targets' next actions).
        an.forward(&self.actor.p, &self.obs, B, &mut self.acts_actor)
            .unwrap();
        an.forward(&self.actor.p, &self.next_obs, B, &mut self.acts_actor_next)
            .unwrap();
        let out = an.output(&self.acts_actor, B);
        let out_next = an.output(&self.acts_actor_next, B);
        for b in 0..B {
            self.x_pi[b * 4..b * 4 + 3].copy_from_slice(&self.obs[b * 3..b * 3 + 3]);
            self.x_pi[b * 4 + 3] = out[b * 2].tanh();
            self.x_next[b * 4..b * 4 + 3].copy_from_slice(&self.next_obs[b * 3..b * 3 + 3]);
            self.x_next[b * 4 + 3] = out_next[b * 2].tanh();
        }
        for i in 0..2 {
            cn.forward(&self.targets[i], &self.x_next, B, &mut self.acts_target[i])
                .unwrap();
        }
        let (t0, t1) = (
            cn.output(&self.acts_target[0], B),
            cn.output(&self.acts_target[1], B),
        );
        for b in 0..B {
            let ent = -alpha * out_next[b * 2 + 1];
            self.y[b] = self.rewards[b] + GAMMA * (t0[b].min(t1[b]) + ent);
        }
        // Critics: ½ Σ_i mean (Q_i − y)².
        for i in 0..2 {
            let c = &mut self.critics[i];
            cn.forward(&c.p, &self.x_sa, B, &mut self.acts_critic[i])
                .unwrap();
            let q = cn.output(&self.acts_critic[i], B);
            for ((d, &qb), &yb) in self.d_q.iter_mut().zip(q).zip(&self.y) {
                *d = (qb - yb) / B as f32;
            }
            let acts = &self.acts_critic[i];
            cn.backward(
                &c.p,
                &self.x_sa,
                B,
                acts,
                &self.d_q,
                Some(&mut c.g),
                None,
                &mut self.scratch,
            )
            .unwrap();
            c.step();
        }
        // Actor: mean(α·log π − min_i Q_i(s, π(s))), the gradient through the critics' input.
        for i in 0..2 {
            cn.forward(&self.critics[i].p, &self.x_pi, B, &mut self.acts_pi[i])
                .unwrap();
        }
        let (q0, q1) = (
            cn.output(&self.acts_pi[0], B),
            cn.output(&self.acts_pi[1], B),
        );
        for i in 0..2 {
            for b in 0..B {
                let mine = if i == 0 {
                    q0[b] <= q1[b]
                } else {
                    q1[b] < q0[b]
                };
                self.d_q[b] = if mine { -1.0 / B as f32 } else { 0.0 };
            }
            let acts = &self.acts_pi[i];
            let (p, dx) = (&self.critics[i].p, &mut self.d_x[i]);
            cn.backward(
                p,
                &self.x_pi,
                B,
                acts,
                &self.d_q,
                None,
                Some(dx),
                &mut self.scratch,
            )
            .unwrap();
        }
        for b in 0..B {
            let t = self.x_pi[b * 4 + 3];
            let da = self.d_x[0][b * 4 + 3] + self.d_x[1][b * 4 + 3];
            self.d_actor[b * 2] = da * (1.0 - t * t);
            self.d_actor[b * 2 + 1] = alpha / B as f32;
        }
        let a = &mut self.actor;
        an.backward(
            &a.p,
            &self.obs,
            B,
            &self.acts_actor,
            &self.d_actor,
            Some(&mut a.g),
            None,
            &mut self.scratch,
        )
        .unwrap();
        a.step();
        // Temperature: −log α · mean(log π + H̄).
        let mean_logp: f32 = out.iter().skip(1).step_by(2).sum::<f32>() / B as f32;
        self.log_alpha.g[0] = -(mean_logp - ACT as f32);
        self.log_alpha.step();
        for i in 0..2 {
            for (t, &p) in self.targets[i].iter_mut().zip(&self.critics[i].p) {
                *t = (1.0 - TAU) * *t + TAU * p;
            }
        }
    }
}

/// The same work in libtorch: `nn::Linear` stacks, autograd and `nn::Adam`.
struct TorchSac {
    actor: nn::Sequential,
    actor_opt: nn::Optimizer,
    critics: Vec<(nn::VarStore, nn::Sequential, nn::Optimizer)>,
    targets: Vec<(nn::VarStore, nn::Sequential)>,
    log_alpha: Tensor,
    alpha_opt: nn::Optimizer,
    obs: Tensor,
    next_obs: Tensor,
    x_sa: Tensor,
    rewards: Tensor,
    _vs: (nn::VarStore, nn::VarStore),
}

fn seq(vs: &nn::Path, dims: &[usize]) -> nn::Sequential {
    let mut s = nn::seq();
    for (l, w) in dims.windows(2).enumerate() {
        s = s.add(nn::linear(
            vs / l,
            w[0] as i64,
            w[1] as i64,
            Default::default(),
        ));
        if l + 2 < dims.len() {
            s = s.add_fn(|x| x.relu());
        }
    }
    s
}

impl TorchSac {
    fn new() -> Self {
        let avs = nn::VarStore::new(tch::Device::Cpu);
        let actor = seq(&avs.root(), &ACTOR);
        let actor_opt = nn::Adam::default().build(&avs, 3e-4).unwrap();
        let mut critics = Vec::new();
        let mut targets = Vec::new();
        for _ in 0..2 {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let net = seq(&vs.root(), &CRITIC);
            let opt = nn::Adam::default().build(&vs, 3e-4).unwrap();
            let mut tvs = nn::VarStore::new(tch::Device::Cpu);
            let tnet = seq(&tvs.root(), &CRITIC);
            tvs.copy(&vs).unwrap();
            critics.push((vs, net, opt));
            targets.push((tvs, tnet));
        }
        let alpha_vs = nn::VarStore::new(tch::Device::Cpu);
        let log_alpha = alpha_vs.root().zeros("log_alpha", &[1]);
        let alpha_opt = nn::Adam::default().build(&alpha_vs, 3e-4).unwrap();
        let wave = |n: usize, f: f64| {
            Tensor::arange(n as i64, (Kind::Float, tch::Device::Cpu))
                .g_mul_scalar(f)
                .sin()
        };
        let obs = wave(B * OBS, 0.37).reshape([B as i64, OBS as i64]);
        let actions = wave(B * ACT, 0.91).reshape([B as i64, ACT as i64]);
        Self {
            actor,
            actor_opt,
            critics,
            targets,
            log_alpha,
            alpha_opt,
            x_sa: Tensor::cat(&[&obs, &actions], 1),
            next_obs: wave(B * OBS, 0.41).reshape([B as i64, OBS as i64]),
            rewards: wave(B, 0.13).reshape([B as i64, 1]),
            obs,
            _vs: (avs, alpha_vs),
        }
    }

    fn update(&mut self) {
        use tch::nn::Module;
        let alpha = tch::no_grad(|| self.log_alpha.exp().detach());
        let out = self.actor.forward(&self.obs);
        let mean = out.narrow(1, 0, 1);
        let log_std = out.narrow(1, 1, 1);
        let pi = mean.tanh();
        let y = tch::no_grad(|| {
            let out_next = self.actor.forward(&self.next_obs);
            let a_next = out_next.narrow(1, 0, 1).tanh();
            let x = Tensor::cat(&[&self.next_obs, &a_next], 1);
            let t0 = self.targets[0].1.forward(&x);
            let t1 = self.targets[1].1.forward(&x);
            &self.rewards + (t0.minimum(&t1) - &alpha * out_next.narrow(1, 1, 1)) * f64::from(GAMMA)
        });
        for (_, net, opt) in self.critics.iter_mut() {
            let q = net.forward(&self.x_sa);
            let loss = (q - &y).square().mean(Kind::Float) * 0.5;
            opt.zero_grad();
            loss.backward();
            opt.step();
        }
        let x_pi = Tensor::cat(&[&self.obs, &pi], 1);
        let q0 = self.critics[0].1.forward(&x_pi);
        let q1 = self.critics[1].1.forward(&x_pi);
        let actor_loss = (&alpha * &log_std - q0.minimum(&q1)).mean(Kind::Float);
        self.actor_opt.zero_grad();
        actor_loss.backward();
        self.actor_opt.step();
        let gap = tch::no_grad(|| (log_std.mean(Kind::Float) - ACT as f64).detach());
        let alpha_loss = -(&self.log_alpha * gap).mean(Kind::Float);
        self.alpha_opt.zero_grad();
        alpha_loss.backward();
        self.alpha_opt.step();
        tch::no_grad(|| {
            for ((vs, _, _), (tvs, _)) in self.critics.iter().zip(self.targets.iter_mut()) {
                let src = vs.variables();
                for (name, mut t) in tvs.variables() {
                    let s = &src[&name];
                    t.copy_(&(&t * (1.0 - f64::from(TAU)) + s * f64::from(TAU)));
                }
            }
        });
    }
}

/// `n` rounds of eight independent 8-wide chains `x ← x · a + b` (two flops a lane), compiled
/// for the widest unit the CPU has; returns a value so nothing is optimized away.
fn flops_kernel(n: u64) -> f32 {
    #[inline(always)]
    fn body(n: u64) -> f32 {
        let mut acc = [[1.0f32; 8]; 8];
        let (a, b) = (black_box(0.999_99f32), black_box(1e-5f32));
        for _ in 0..n {
            for chain in acc.iter_mut() {
                for x in chain.iter_mut() {
                    *x = *x * a + b;
                }
            }
        }
        acc.iter().flatten().sum()
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn wide(n: u64) -> f32 {
            body(n)
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { wide(n) };
        }
    }
    body(n)
}

/// picorl's SAC on Pendulum-v1 at RLtools' size (64×64, batch 100) on `backend`, its replay
/// filled with 1,000 random transitions.
fn sac_learner(backend: &str) -> picorl_host::algo::off_policy::sac::Sac {
    use picorl_host::algo::off_policy::sac::{Sac, SacConfig};
    use picorl_host::train::config::RunOptions;
    let run: RunOptions = toml::from_str(&format!(
        "algo = \"sac\"\nenv = \"Pendulum-v1\"\nseed = 0\ndevice = \"cpu\"\nthreads = 1\n\
         total_steps = 1000\neval_every = 0\neval_episodes = 1\nbackend = \"{backend}\"\n"
    ))
    .expect("run options");
    let spec = *picorl_host::envs::make("Pendulum-v1", &Default::default())
        .expect("Pendulum-v1")
        .spec();
    let setup = picorl_host::train::Setup {
        run,
        device: tch::Device::Cpu,
        spec,
    };
    let mut cfg = SacConfig::default();
    cfg.off.batch_size = B;
    cfg.off.learning_rate = 1e-3;
    Sac::with_random_replay(&setup, cfg, 1000).expect("a SAC learner")
}

pub fn bench(c: &mut Criterion) {
    tch::set_num_threads(1);
    let mut g = c.benchmark_group("native");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));

    let rounds = 10_000u64;
    g.throughput(Throughput::Elements(rounds * 64 * 2));
    g.bench_function("flops/mul_add_8x8_lanes", |b| {
        b.iter(|| black_box(flops_kernel(black_box(rounds))))
    });

    g.throughput(Throughput::Elements(sac_flops()));
    let mut native = NativeSac::new();
    g.bench_function("sac_pieces/native", |b| b.iter(|| native.update()));
    let mut torch = TorchSac::new();
    g.bench_function("sac_pieces/tch", |b| b.iter(|| torch.update()));

    for backend in ["native", "torch"] {
        let mut sac = sac_learner(backend);
        g.bench_function(format!("sac_update/{backend}"), |b| {
            b.iter(|| sac.update_once().unwrap())
        });
    }

    let net = Mlp::new(&ACTOR, Activation::Relu, Activation::Identity).unwrap();
    let mut n = Net::new(&net, 0);
    let x: Vec<f32> = (0..B * OBS).map(|i| (i as f32 * 0.37).sin()).collect();
    let d: Vec<f32> = (0..B * 2).map(|i| (i as f32 * 0.7).cos()).collect();
    let mut acts = vec![0f32; net.acts_len(B)];
    let mut scratch = vec![0f32; net.scratch_len(B)];
    g.throughput(Throughput::Elements(2 * macs(&ACTOR)));
    g.bench_function("mlp/3-64-64-2/b100/forward", |b| {
        b.iter(|| net.forward(&n.p, black_box(&x), B, &mut acts).unwrap())
    });
    g.throughput(Throughput::Elements(
        2 * (3 * macs(&ACTOR) - (OBS * H * B) as u64),
    ));
    g.bench_function("mlp/3-64-64-2/b100/forward_backward", |b| {
        b.iter(|| {
            net.forward(&n.p, black_box(&x), B, &mut acts).unwrap();
            net.backward(&n.p, &x, B, &acts, &d, Some(&mut n.g), None, &mut scratch)
                .unwrap();
        })
    });
    g.bench_function("mlp/3-64-64-2/b100/forward_backward_adam", |b| {
        b.iter(|| {
            net.forward(&n.p, black_box(&x), B, &mut acts).unwrap();
            net.backward(&n.p, &x, B, &acts, &d, Some(&mut n.g), None, &mut scratch)
                .unwrap();
            n.step();
        })
    });
    g.finish();
}
