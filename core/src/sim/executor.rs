//! A single-threaded, seeded executor with a virtual clock: the only source
//! of time, randomness and interleaving in a simulated run, so that a seed
//! replays exactly.

use crate::env::{BoxFuture, Env};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Who owns a task: a client (killed together when it crashes), or the
/// world itself (a request already on the wire outlives its sender).
pub type Owner = Option<usize>;

struct Task {
    owner: Owner,
    fut: BoxFuture<()>,
}

#[derive(Default)]
struct Shared {
    now: Duration,
    rng: Option<fastrand::Rng>,
    next_task: usize,
    spawned: Vec<(usize, Owner, BoxFuture<()>)>,
    ready: Vec<usize>,
    /// (deadline, sequence) -> waker
    timers: BTreeMap<(Duration, u64), Waker>,
    next_timer: u64,
}

/// The world's clock, randomness and task list.
#[derive(Clone)]
pub struct World(Arc<Mutex<Shared>>);

impl World {
    pub fn new(seed: u64) -> World {
        World(Arc::new(Mutex::new(Shared {
            rng: Some(fastrand::Rng::with_seed(seed)),
            ..Shared::default()
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn now(&self) -> Duration {
        self.lock().now
    }

    pub fn random(&self) -> u64 {
        self.lock().rng.as_mut().expect("rng").u64(..)
    }

    /// Uniform in `0..n`.
    pub fn below(&self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.random() % n
        }
    }

    /// True with probability `p`.
    pub fn chance(&self, p: f64) -> bool {
        (self.random() as f64 / u64::MAX as f64) < p
    }

    pub fn spawn(&self, owner: Owner, fut: BoxFuture<()>) {
        let mut s = self.lock();
        let id = s.next_task;
        s.next_task += 1;
        s.spawned.push((id, owner, fut));
        s.ready.push(id);
    }

    pub fn sleep(&self, d: Duration) -> BoxFuture<()> {
        let at = self.now() + d;
        Box::pin(Sleep {
            world: self.clone(),
            at,
            timer: None,
        })
    }

    /// An [`Env`] for one client: its tasks belong to it.
    pub fn env(&self, owner: Owner, wall_start_ms: u64) -> Arc<dyn Env> {
        Arc::new(SimEnv {
            world: self.clone(),
            owner,
            wall_start_ms,
        })
    }
}

struct Sleep {
    world: World,
    at: Duration,
    timer: Option<u64>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.world.lock();
        if s.now >= self.at {
            return Poll::Ready(());
        }
        let seq = match self.timer {
            Some(seq) => seq,
            None => {
                let seq = s.next_timer;
                s.next_timer += 1;
                seq
            }
        };
        // (Re-)register with the latest waker.
        s.timers.insert((self.at, seq), cx.waker().clone());
        drop(s);
        self.timer = Some(seq);
        Poll::Pending
    }
}

struct SimEnv {
    world: World,
    owner: Owner,
    wall_start_ms: u64,
}

impl Env for SimEnv {
    fn monotonic(&self) -> Duration {
        self.world.now()
    }

    fn wall_ms(&self) -> u64 {
        self.wall_start_ms + self.world.now().as_millis() as u64
    }

    fn sleep(&self, d: Duration) -> BoxFuture<()> {
        self.world.sleep(d)
    }

    fn random(&self) -> u64 {
        self.world.random()
    }

    fn spawn(&self, task: BoxFuture<()>) {
        self.world.spawn(self.owner, task);
    }
}

struct TaskWaker {
    id: usize,
    world: World,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let mut s = self.world.lock();
        if !s.ready.contains(&self.id) {
            s.ready.push(self.id);
        }
    }
}

/// Runs the world's tasks until none can make progress or `limit` of
/// virtual time has passed. `crash` is asked, before each step, whether to
/// kill an owner's tasks now.
pub fn run(
    world: &World,
    limit: Duration,
    mut crash: impl FnMut(&World) -> Option<usize>,
) -> RunEnd {
    let mut tasks: HashMap<usize, Task> = HashMap::new();
    loop {
        if let Some(victim) = crash(world) {
            tasks.retain(|_, t| t.owner != Some(victim));
        }
        let next = {
            let mut s = world.lock();
            for (id, owner, fut) in s.spawned.drain(..) {
                tasks.insert(id, Task { owner, fut });
            }
            s.ready.retain(|id| tasks.contains_key(id));
            if s.ready.is_empty() {
                None
            } else {
                let n = s.ready.len() as u64;
                let i = (s.rng.as_mut().expect("rng").u64(..) % n) as usize;
                Some(s.ready.swap_remove(i))
            }
        };
        match next {
            Some(id) => {
                let Some(task) = tasks.get_mut(&id) else {
                    continue;
                };
                let waker = Waker::from(Arc::new(TaskWaker {
                    id,
                    world: world.clone(),
                }));
                let mut cx = Context::from_waker(&waker);
                if task.fut.as_mut().poll(&mut cx).is_ready() {
                    tasks.remove(&id);
                }
            }
            None => {
                let mut s = world.lock();
                let Some((&(at, seq), _)) = s.timers.iter().next() else {
                    return if tasks.is_empty() {
                        RunEnd::Done
                    } else {
                        RunEnd::Stuck
                    };
                };
                if at > limit {
                    return RunEnd::TimeLimit;
                }
                s.now = s.now.max(at);
                let w = s.timers.remove(&(at, seq)).expect("timer");
                drop(s);
                w.wake();
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Every task finished.
    Done,
    /// Tasks wait for something that will never happen.
    Stuck,
    TimeLimit,
}
