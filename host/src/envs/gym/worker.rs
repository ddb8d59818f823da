//! One Python worker process and its binary protocol over pipes: spawned with
//! `PR_SET_PDEATHSIG` from one long-lived thread, greeted with the environment's spaces, then
//! asked to reset and step; its stderr's tail names what went wrong when it dies.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use super::{python, PREFIX, WORKER_SOURCE};

/// What identifies a worker: the same key gives the same environments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub(super) id: String,
    pub(super) kwargs: BTreeMap<String, String>,
    pub(super) packages: Vec<String>,
    pub(super) copies: usize,
    pub(super) render: bool,
}

/// A space as the worker describes it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum GymSpace {
    Discrete { n: u32 },
    Box { low: Vec<f32>, high: Vec<f32> },
}

/// The worker's hello: the spaces, the time limit, whether it renders.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Hello {
    pub(super) obs: GymSpace,
    pub(super) act: GymSpace,
    pub(super) max_episode_steps: Option<u64>,
    pub(super) render: bool,
    pub(super) render_fps: Option<f64>,
}

#[derive(serde::Deserialize)]
pub(super) struct HelloJson {
    pub(super) obs: SpaceJson,
    pub(super) act: SpaceJson,
    pub(super) max_episode_steps: Option<u64>,
    pub(super) render: bool,
    pub(super) render_fps: Option<f64>,
}

#[derive(serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(super) enum SpaceJson {
    Box { dim: usize },
    Discrete { n: u32 },
}

/// Reads little-endian values from a reply, checking its length first.
pub(super) struct Cursor<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "a reply of {} bytes is short (wanted {} at {})",
                self.bytes.len(),
                n,
                self.at
            ));
        };
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub(super) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn u64(&mut self) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    pub(super) fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_bits(self.u64()?))
    }

    pub(super) fn f32s(&mut self, out: &mut [f32]) -> Result<(), String> {
        let b = self.take(4 * out.len())?;
        for (o, c) in out.iter_mut().zip(b.chunks_exact(4)) {
            *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        Ok(())
    }
}

/// The last lines a worker wrote to stderr (also passed on to picorl's stderr).
#[derive(Debug, Default)]
pub(super) struct Tail {
    pub(super) lines: std::collections::VecDeque<String>,
}

impl Tail {
    pub(super) fn last(&self) -> Option<&str> {
        self.lines
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
    }
}

/// One Python worker process.
pub(super) struct Worker {
    pub(super) label: String,
    pub(super) child: Child,
    pub(super) stdin: ChildStdin,
    pub(super) stdout: BufReader<ChildStdout>,
    pub(super) tail: Arc<Mutex<Tail>>,
    pub(super) stderr_thread: Option<std::thread::JoinHandle<()>>,
    pub(super) request: Vec<u8>,
    pub(super) reply: Vec<u8>,
    /// A failure was seen: the worker is not reused.
    pub(super) broken: bool,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("env", &self.label)
            .field("pid", &self.child.id())
            .finish()
    }
}

/// Starts `cmd` from one thread that lives as long as the process: `PR_SET_PDEATHSIG` fires when
/// the *thread* that started a child ends, so children started from a short-lived thread (a
/// test's, a scoped one) would be killed with it.
pub(super) fn spawn(cmd: Command) -> std::io::Result<Child> {
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Option<Mutex<mpsc::Sender<Request>>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("picorl-gym-spawner".into())
            .spawn(move || {
                for (mut cmd, back) in rx {
                    let _ = back.send(cmd.spawn());
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    let Some(spawner) = spawner else {
        return Err(std::io::Error::other(
            "cannot start the worker-spawning thread",
        ));
    };
    let (back, answer) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, back))
        .map_err(|_| std::io::Error::other("the worker-spawning thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the worker-spawning thread is gone"))?
}

impl Worker {
    /// Starts a worker for `key` and reads its hello.
    pub(super) fn start(key: &Key) -> Result<(Worker, Hello)> {
        let label = format!("{PREFIX}{}", key.id);
        let config = serde_json::json!({
            "id": key.id,
            "kwargs": key.kwargs,
            "packages": key.packages,
            "copies": key.copies,
            "render": key.render,
            "parent": std::process::id(),
        });
        let py = python();
        let mut cmd = Command::new(&py);
        cmd.arg("-u")
            .arg("-c")
            .arg(WORKER_SOURCE)
            .arg(config.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn(cmd).map_err(|e| {
            anyhow!(
                "{label}: cannot start Python `{}`: {e} (run scripts/setup.sh, or set PICORL_PYTHON \
                 to an interpreter with gymnasium)",
                py.display()
            )
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{label}: the worker's pipes are missing");
        };
        let tail = Arc::new(Mutex::new(Tail::default()));
        let stderr_thread = {
            let tail = tail.clone();
            let label = label.clone();
            std::thread::Builder::new()
                .name("picorl-gym-stderr".into())
                .spawn(move || {
                    for line in BufReader::new(stderr).lines() {
                        let Ok(line) = line else { break };
                        eprintln!("{label} worker: {line}");
                        let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                        if t.lines.len() == 32 {
                            t.lines.pop_front();
                        }
                        t.lines.push_back(line);
                    }
                })
                .ok()
        };
        let mut w = Worker {
            label,
            child,
            stdin,
            stdout: BufReader::with_capacity(1 << 16, stdout),
            tail,
            stderr_thread,
            request: Vec::new(),
            reply: Vec::new(),
            broken: false,
        };
        w.read_reply().map_err(|e| anyhow!(e))?;
        let hello = w.parse_hello().map_err(|e| anyhow!("{}: {e}", w.label))?;
        Ok((w, hello))
    }

    pub(super) fn parse_hello(&self) -> Result<Hello, String> {
        let mut c = Cursor::new(&self.reply);
        let n = c.u32()? as usize;
        let json: HelloJson = serde_json::from_slice(c.take(n)?)
            .map_err(|e| format!("the worker's hello is not understood: {e}"))?;
        let mut space = |s: SpaceJson| -> Result<GymSpace, String> {
            Ok(match s {
                SpaceJson::Discrete { n } => GymSpace::Discrete { n },
                SpaceJson::Box { dim } => {
                    let mut low = vec![0.0; dim];
                    let mut high = vec![0.0; dim];
                    c.f32s(&mut low)?;
                    c.f32s(&mut high)?;
                    GymSpace::Box { low, high }
                }
            })
        };
        let obs = space(json.obs)?;
        let act = space(json.act)?;
        Ok(Hello {
            obs,
            act,
            max_episode_steps: json.max_episode_steps,
            render: json.render,
            render_fps: json.render_fps,
        })
    }

    /// Sends one request and reads its reply into `self.reply`; the error is one line naming
    /// the environment.
    pub(super) fn call(&mut self, op: u8, payload: &[u8]) -> Result<&[u8], String> {
        if self.broken {
            return Err(format!("{}: the worker failed earlier", self.label));
        }
        let len = u32::try_from(payload.len())
            .map_err(|_| format!("{}: a request of {} bytes", self.label, payload.len()))?;
        self.request.clear();
        self.request.push(op);
        self.request.extend_from_slice(&len.to_le_bytes());
        self.request.extend_from_slice(payload);
        if self.stdin.write_all(&self.request).is_err() {
            self.broken = true;
            return Err(self.death());
        }
        self.read_reply()?;
        Ok(&self.reply)
    }

    pub(super) fn read_reply(&mut self) -> Result<(), String> {
        let mut head = [0u8; 5];
        if self.stdout.read_exact(&mut head).is_err() {
            self.broken = true;
            return Err(self.death());
        }
        let n = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        self.reply.resize(n, 0);
        if self.stdout.read_exact(&mut self.reply).is_err() {
            self.broken = true;
            return Err(self.death());
        }
        match head[0] {
            0 => Ok(()),
            _ => {
                self.broken = true;
                let text = String::from_utf8_lossy(&self.reply);
                Err(text.lines().next().unwrap_or("").to_string())
            }
        }
    }

    /// Why the worker stopped answering: its exit status and its last line on stderr.
    pub(super) fn death(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(2);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => break None,
            }
        };
        // Its stderr closes when it exits; give the reader a moment to see the last line.
        if let Some(t) = &self.stderr_thread {
            let deadline = Instant::now() + Duration::from_millis(500);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let how = match status {
            Some(s) => {
                use std::os::unix::process::ExitStatusExt;
                match (s.code(), s.signal()) {
                    (Some(c), _) => format!("exited with status {c}"),
                    (None, Some(sig)) => format!("was killed by signal {sig}"),
                    _ => "stopped".into(),
                }
            }
            None => "stopped answering".into(),
        };
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        match tail.last() {
            Some(line) => format!("{}: the Python worker {how}: {line}", self.label),
            None => format!("{}: the Python worker {how}", self.label),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // End of file first (a clean exit), then make sure, and reap it.
        let _ = self.stdin.write_all(&[b'Q', 0, 0, 0, 0]);
        let _ = self.stdin.flush();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
